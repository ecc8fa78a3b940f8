package consumers_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/internal/consumers"
	"github.com/mp3converter/mp3converter/internal/memory"
)

func TestRun(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var started, handled atomic.Int32
	logged := make(chan struct{}) // the early stop is logged
	q := &memory.Queue{ConsumeFunc: func(ctx context.Context, name string, h mp3converter.Handler) error {
		if started.Add(1) == 1 {
			return errors.New("broker gone") // stops early: logged
		}
		h(ctx, mp3converter.Delivery{Body: []byte(name)})
		if started.Load() == 3 {
			// Not before Run has looked at the early stop: once ctx has
			// ended, a stop is not logged.
			select {
			case <-logged:
			case <-time.After(10 * time.Second): // the assertions below fail
			}
			cancel()
		}
		<-ctx.Done()
		return ctx.Err() // stops with ctx: not logged
	}}
	var logs bytes.Buffer
	consumers.Run(ctx, q, "video", 3, func(_ context.Context, d mp3converter.Delivery) error {
		handled.Add(1)
		return nil
	}, slog.New(notify{slog.NewTextHandler(&logs, nil), logged}))

	if started.Load() != 3 || handled.Load() != 2 {
		t.Errorf("started %d consumers, handled %d; want 3, 2", started.Load(), handled.Load())
	}
	if n := strings.Count(logs.String(), "ConsumerStopped"); n != 1 || !strings.Contains(logs.String(), "broker gone") {
		t.Errorf("want one ConsumerStopped with its error, logged:\n%s", logs.String())
	}
}

func TestRunAtLeastOne(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var started atomic.Int32
	q := &memory.Queue{ConsumeFunc: func(ctx context.Context, _ string, _ mp3converter.Handler) error {
		started.Add(1)
		cancel()
		return ctx.Err()
	}}
	consumers.Run(ctx, q, "mp3", 0, nil, slog.New(slog.DiscardHandler))
	if started.Load() != 1 {
		t.Errorf("n = 0 started %d consumers, want 1", started.Load())
	}
}

// notify is a log handler that closes ch after its first record.
type notify struct {
	slog.Handler
	ch chan struct{}
}

func (n notify) Handle(ctx context.Context, r slog.Record) error {
	err := n.Handler.Handle(ctx, r)
	select {
	case <-n.ch:
	default:
		close(n.ch)
	}
	return err
}
