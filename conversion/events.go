package conversion

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/mp3converter/mp3converter"
)

// jobFailed records the job.failed event of the job that Handle just
// failed, for its owner's webhooks. Like setStatus it outlasts an outage:
// no one else will record it.
func (w *Worker) jobFailed(ctx context.Context, id string, log *slog.Logger) {
	if w.Events == nil {
		return
	}
	err := w.outlastOutage(ctx, func(ctx context.Context) error {
		job, err := w.Jobs.Job(ctx, id)
		if err != nil {
			return err
		}
		return w.Events.JobFinished(ctx, job)
	})
	if err != nil && !errors.Is(err, mp3converter.ErrNotFound) {
		log.Error("JobEventNotRecorded", "event", mp3converter.EventJobFailed, "err", err)
	}
}

// outlastOutage runs fn, a write that answers for a delivery, with 10 s a
// try, until it succeeds or fails for another reason than an unavailable
// store, or ctx ends; once ctx has ended (shutting down) it tries for 10 s
// more.
func (w *Worker) outlastOutage(ctx context.Context, fn func(context.Context) error) error {
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
	}
	return w.Policy.WhileUnavailable(ctx, func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return fn(ctx)
	})
}
