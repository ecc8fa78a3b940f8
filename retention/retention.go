// Package retention removes every job, with its files, once it is older
// than the retention period, so that storage does not grow without end and
// users' files are not kept longer than promised.
package retention

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/mp3converter/mp3converter"
)

// Sweeper deletes jobs not updated for longer than Retention, with their
// files. Several sweepers may run at once (one per gateway): deleting is
// idempotent.
type Sweeper struct {
	Jobs      mp3converter.JobStore
	Videos    mp3converter.BlobStore
	MP3s      mp3converter.BlobStore
	Retention time.Duration
	Logger    *slog.Logger
	Now       func() time.Time
}

// Sweep deletes the expired jobs, a batch at a time, and returns how many
// it deleted.
func (s *Sweeper) Sweep(ctx context.Context) (int, error) {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	cutoff := now().Add(-s.Retention)
	n := 0
	for {
		old, err := s.Jobs.ListJobs(ctx, mp3converter.JobFilter{UpdatedBefore: cutoff, Limit: 100})
		if err != nil {
			return n, err
		}
		if len(old) == 0 {
			return n, nil
		}
		for _, j := range old {
			if err := mp3converter.DeleteJobAndFiles(ctx, s.Jobs, s.Videos, s.MP3s, j); err != nil && !errors.Is(err, mp3converter.ErrNotFound) {
				return n, err
			}
			n++
			s.Logger.Info("JobExpired", "job_id", j.ID, "status", j.Status, "updated_at", j.UpdatedAt)
		}
	}
}

// Run sweeps now and then every interval until ctx ends. A zero Retention
// keeps everything.
func (s *Sweeper) Run(ctx context.Context, interval time.Duration) {
	if s.Retention <= 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if n, err := s.Sweep(ctx); err != nil {
			s.Logger.Warn("SweepFailed", "err", err, "deleted", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Interval is how often to sweep for a retention period: a tenth of it,
// between a minute and an hour.
func Interval(retention time.Duration) time.Duration {
	return min(max(retention/10, time.Minute), time.Hour)
}
