package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter"
)

// Counting jobs.

func ids(jobs []*mp3converter.Job) []string {
	var out []string
	for _, j := range jobs {
		out = append(out, j.ID)
	}
	return out
}

// testJobStats checks the counts of a store that is a JobCounter.
func testJobStats(t *testing.T, s mp3converter.JobStore) {
	c, ok := s.(mp3converter.JobCounter)
	if !ok {
		t.Skip("not a JobCounter")
	}
	ctx := context.Background()
	st, err := c.JobStats(ctx)
	if err != nil || len(st.ByStatus) != 0 || !st.OldestQueued.IsZero() {
		t.Fatalf("empty store: %+v, %v", st, err)
	}
	first := newJob("ann@example.com")
	first.CreatedAt = time.Now().Add(-time.Hour).UTC().Truncate(time.Microsecond)
	for _, j := range []*mp3converter.Job{first, newJob("bob@example.com"), newJob("ann@example.com")} {
		if err := s.CreateJob(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	done := newJob("ann@example.com")
	done.Status = mp3converter.JobDone
	done.CreatedAt = time.Now().Add(-2 * time.Hour) // older, but not queued
	if err := s.CreateJob(ctx, done); err != nil {
		t.Fatal(err)
	}
	st, err = c.JobStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[mp3converter.JobStatus]int{mp3converter.JobQueued: 3, mp3converter.JobDone: 1}
	if fmt.Sprint(st.ByStatus) != fmt.Sprint(want) || !st.OldestQueued.Equal(first.CreatedAt) {
		t.Errorf("stats %v, oldest queued %v; want %v, %v", st.ByStatus, st.OldestQueued, want, first.CreatedAt)
	}
}

// testCountJobs checks the per-owner count of a store that is a
// JobOwnerCounter: every status counts, other owners' jobs and deleted
// ones do not.
func testCountJobs(t *testing.T, s mp3converter.JobStore) {
	c, ok := s.(mp3converter.JobOwnerCounter)
	if !ok {
		t.Skip("not a JobOwnerCounter")
	}
	ctx := context.Background()
	count := func(owner string, want int) {
		t.Helper()
		if n, err := c.CountJobs(ctx, owner); err != nil || n != want {
			t.Errorf("CountJobs(%s) = %d, %v; want %d", owner, n, err, want)
		}
	}
	count("ann@example.com", 0)
	var ann []*mp3converter.Job
	for _, st := range []mp3converter.JobStatus{mp3converter.JobQueued, mp3converter.JobProcessing, mp3converter.JobDone, mp3converter.JobFailed} {
		j := newJob("ann@example.com")
		j.Status = st
		if err := s.CreateJob(ctx, j); err != nil {
			t.Fatal(err)
		}
		ann = append(ann, j)
	}
	if err := s.CreateJob(ctx, newJob("bob@example.com")); err != nil {
		t.Fatal(err)
	}
	count("ann@example.com", 4)
	count("bob@example.com", 1)
	if err := s.DeleteJob(ctx, ann[0].ID); err != nil {
		t.Fatal(err)
	}
	count("ann@example.com", 3)
}
