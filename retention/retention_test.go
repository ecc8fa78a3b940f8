package retention_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/internal/testsupport"
	"github.com/mp3converter/mp3converter/localfs"
	"github.com/mp3converter/mp3converter/retention"
)

type env struct {
	jobs         mp3converter.JobStore
	videos, mp3s mp3converter.BlobStore
}

func setup(t *testing.T) env {
	t.Helper()
	dir := t.TempDir()
	db := testsupport.SQLite(t)
	v, _ := localfs.Open(filepath.Join(dir, "videos"))
	m, _ := localfs.Open(filepath.Join(dir, "mp3s"))
	return env{db.Jobs, v, m}
}

// job stores a job with a video and, if done, an MP3.
func (e env) job(t *testing.T, done bool) *mp3converter.Job {
	t.Helper()
	ctx := context.Background()
	j := &mp3converter.Job{ID: mp3converter.NewID(), Owner: "ann@example.com", VideoFID: mp3converter.NewID()}
	e.videos.Put(ctx, j.VideoFID, bytes.NewReader([]byte("video")))
	if done {
		j.Status, j.MP3FID = mp3converter.JobDone, mp3converter.NewID()
		e.mp3s.Put(ctx, j.MP3FID, bytes.NewReader([]byte("mp3")))
	}
	if err := e.jobs.CreateJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	return j
}

func (e env) gone(t *testing.T, j *mp3converter.Job) bool {
	t.Helper()
	ctx := context.Background()
	_, errJob := e.jobs.Job(ctx, j.ID)
	_, errVideo := e.videos.Get(ctx, j.VideoFID)
	jobGone, videoGone := errors.Is(errJob, mp3converter.ErrNotFound), errors.Is(errVideo, mp3converter.ErrNotFound)
	mp3Gone := jobGone // no MP3 to look at
	if j.MP3FID != "" {
		_, err := e.mp3s.Get(ctx, j.MP3FID)
		mp3Gone = errors.Is(err, mp3converter.ErrNotFound)
	}
	if jobGone != videoGone || jobGone != mp3Gone {
		t.Errorf("job %s half deleted: job %v video %v mp3 %v", j.ID, jobGone, videoGone, mp3Gone)
	}
	return jobGone
}

func TestDeleteJobAndFiles(t *testing.T) {
	e := setup(t)
	j, other := e.job(t, true), e.job(t, true)
	if err := mp3converter.DeleteJobAndFiles(context.Background(), e.jobs, e.videos, e.mp3s, j); err != nil {
		t.Fatal(err)
	}
	if !e.gone(t, j) || e.gone(t, other) {
		t.Error("Delete removed the wrong things")
	}
	// Files already gone are no error.
	k := e.job(t, false)
	e.videos.Delete(context.Background(), k.VideoFID)
	if err := mp3converter.DeleteJobAndFiles(context.Background(), e.jobs, e.videos, e.mp3s, k); err != nil {
		t.Errorf("Delete with the video already gone: %v", err)
	}
}

func TestSweep(t *testing.T) {
	e := setup(t)
	var old []*mp3converter.Job
	for i := 0; i < 130; i++ { // more than one batch
		old = append(old, e.job(t, i%2 == 0))
	}
	// Time passes on purpose: the old jobs changed before cut, the fresh after.
	time.Sleep(10 * time.Millisecond)
	cut := time.Now()
	time.Sleep(10 * time.Millisecond)
	fresh := []*mp3converter.Job{e.job(t, true), e.job(t, false)}

	// An hour before cut the old jobs are not an hour old yet.
	s := &retention.Sweeper{Jobs: e.jobs, Videos: e.videos, MP3s: e.mp3s, Retention: time.Hour,
		Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return cut }}
	if n, err := s.Sweep(context.Background()); err != nil || n != 0 {
		t.Fatalf("sweeping young jobs deleted %d (%v)", n, err)
	}
	// An hour after cut they are; the fresh ones are not.
	s.Now = func() time.Time { return cut.Add(time.Hour) }
	n, err := s.Sweep(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n != len(old) {
		t.Errorf("swept %d jobs, want %d", n, len(old))
	}
	for _, j := range old {
		if !e.gone(t, j) {
			t.Errorf("expired job %s kept", j.ID)
			break
		}
	}
	for _, j := range fresh {
		if e.gone(t, j) {
			t.Errorf("fresh job %s deleted", j.ID)
		}
	}
}

func TestInterval(t *testing.T) {
	for in, want := range map[time.Duration]time.Duration{
		time.Minute: time.Minute, 20 * time.Minute: 2 * time.Minute, 30 * 24 * time.Hour: time.Hour,
	} {
		if got := retention.Interval(in); got != want {
			t.Errorf("Interval(%v) = %v, want %v", in, got, want)
		}
	}
}
