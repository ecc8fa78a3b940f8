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
	run(ctx, queue, max(n, 1), func() error { return q.Consume(ctx, queue, h) }, log)
}

// Overlap is Run for handlers whose heavy work ends before they answer
// (see mp3converter.Delivery.EndTurn). On a GatedQueue it runs twice as
// many consumers, of whom n at most hold a message whose heavy work has not
// ended, so that the next message's work starts while the last one's is
// answered. On another Queue it is Run.
func Overlap(ctx context.Context, q mp3converter.Queue, queue string, n int, h mp3converter.Handler, log *slog.Logger) {
	gq, ok := q.(mp3converter.GatedQueue)
	if !ok {
		Run(ctx, q, queue, n, h, log)
		return
	}
	n = max(n, 1)
	turns := mp3converter.NewTurns(n)
	run(ctx, queue, 2*n, func() error { return gq.ConsumeGated(ctx, queue, turns, h) }, log)
}

// run runs n consumers of queue, each calling consume.
func run(ctx context.Context, queue string, n int, consume func() error, log *slog.Logger) {
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if err := consume(); err != nil && ctx.Err() == nil {
				log.Error("ConsumerStopped", "queue", queue, "err", err)
			}
		})
	}
	wg.Wait()
}
