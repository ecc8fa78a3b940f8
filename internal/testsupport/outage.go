package testsupport

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/mp3converter/mp3converter"
)

// FlakyJobs is a JobStore in an outage: each call asks Down, and fails with
// an error wrapping mp3converter.ErrUnavailable while it returns true. It
// records when each call was made and whether it failed.
type FlakyJobs struct {
	mp3converter.JobStore
	// Down is asked before each call with the method's name; nil is never
	// down.
	Down func(method string) bool

	mu    sync.Mutex
	calls []Call
}

// Call is one call of a FlakyJobs.
type Call struct {
	Method string
	At     time.Time
	Failed bool
}

var _ mp3converter.JobStore = (*FlakyJobs)(nil)

// Calls returns the calls so far.
func (f *FlakyJobs) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Call(nil), f.calls...)
}

func (f *FlakyJobs) check(method string) error {
	down := f.Down != nil && f.Down(method)
	f.mu.Lock()
	f.calls = append(f.calls, Call{Method: method, At: time.Now(), Failed: down})
	f.mu.Unlock()
	if down {
		return fmt.Errorf("job store %s: %w: connection refused", method, mp3converter.ErrUnavailable)
	}
	return nil
}

// CreateJob implements mp3converter.JobStore.
func (f *FlakyJobs) CreateJob(ctx context.Context, j *mp3converter.Job) error {
	if err := f.check("CreateJob"); err != nil {
		return err
	}
	return f.JobStore.CreateJob(ctx, j)
}

// Job implements mp3converter.JobStore.
func (f *FlakyJobs) Job(ctx context.Context, id string) (*mp3converter.Job, error) {
	if err := f.check("Job"); err != nil {
		return nil, err
	}
	return f.JobStore.Job(ctx, id)
}

// JobByMP3 implements mp3converter.JobStore.
func (f *FlakyJobs) JobByMP3(ctx context.Context, fid string) (*mp3converter.Job, error) {
	if err := f.check("JobByMP3"); err != nil {
		return nil, err
	}
	return f.JobStore.JobByMP3(ctx, fid)
}

// ListJobs implements mp3converter.JobStore.
func (f *FlakyJobs) ListJobs(ctx context.Context, filter mp3converter.JobFilter) ([]*mp3converter.Job, error) {
	if err := f.check("ListJobs"); err != nil {
		return nil, err
	}
	return f.JobStore.ListJobs(ctx, filter)
}

// UpdateJob implements mp3converter.JobStore.
func (f *FlakyJobs) UpdateJob(ctx context.Context, id string, fn func(*mp3converter.Job) error) (*mp3converter.Job, error) {
	if err := f.check("UpdateJob"); err != nil {
		return nil, err
	}
	return f.JobStore.UpdateJob(ctx, id, fn)
}

// DeleteJob implements mp3converter.JobStore.
func (f *FlakyJobs) DeleteJob(ctx context.Context, id string) error {
	if err := f.check("DeleteJob"); err != nil {
		return err
	}
	return f.JobStore.DeleteJob(ctx, id)
}
