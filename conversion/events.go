package conversion

import (
	"context"
	"errors"
	"log/slog"

	"github.com/mp3converter/mp3converter"
)

// jobFailed records the job.failed event of the job that Handle just
// failed, for its owner's webhooks. Like setStatus it outlasts an outage:
// no one else will record it.
func (w *Worker) jobFailed(ctx context.Context, id string, log *slog.Logger) {
	if w.Events == nil {
		return
	}
	err := w.Policy.Outlast(ctx, func(ctx context.Context) error {
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
