// Package consumers runs the parallel consumers of a role (conversion,
// notification) on one queue.
package consumers

import (
	"context"
	"log/slog"
	"sync"

	"github.com/mp3converter/mp3converter"
)

// Run consumes queue with n handlers in parallel (at least one) until ctx
// ends, and returns once all have stopped. A consumer that stops before ctx
// ends is logged, not returned: the others go on.
func Run(ctx context.Context, q mp3converter.Queue, queue string, n int, h mp3converter.Handler, log *slog.Logger) {
	var wg sync.WaitGroup
	for range max(n, 1) {
		wg.Go(func() {
			if err := q.Consume(ctx, queue, h); err != nil && ctx.Err() == nil {
				log.Error("ConsumerStopped", "queue", queue, "err", err)
			}
		})
	}
	wg.Wait()
}
