package conversion_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/goqite"
	"github.com/mp3converter/mp3converter/internal/testmedia"
	"github.com/mp3converter/mp3converter/internal/testsupport"
)

// The job store goes down in the middle of a conversion: the attempt ends
// in a wait that the queue does not count, the job is not charged for it,
// and its status is put right as soon as the store answers.
func TestJobStoreOutageMidConversion(t *testing.T) {
	f := setup(t)
	j, msg := f.upload(t, testmedia.Make(t, testmedia.MP4, 1))
	// After begin's update, the store is down for 100 ms and at least two
	// calls, however slowly the machine converts meanwhile.
	var mu sync.Mutex
	var downSince time.Time
	updates, refused := 0, 0
	jobs := &testsupport.FlakyJobs{JobStore: f.db.Jobs, Down: func(method string) bool {
		mu.Lock()
		defer mu.Unlock()
		if method == "UpdateJob" {
			if updates++; updates == 2 {
				downSince = time.Now()
			}
		}
		if downSince.IsZero() || (refused >= 2 && time.Since(downSince) > 100*time.Millisecond) {
			return false
		}
		refused++
		return true
	}}
	f.w.Jobs = jobs
	f.w.Policy = mp3converter.RetryPolicy{MinPause: 5 * time.Millisecond, MaxPause: 20 * time.Millisecond}
	policy := mp3converter.DefaultRetryPolicy

	err := f.w.Handle(context.Background(), mp3converter.Delivery{Body: msg, Attempt: 3, Final: true})
	dec := policy.Decide(3, err)
	switch dec.Action {
	case mp3converter.ActionAck:
		// The outage hit the done write, which waits it out in the handler.
	case mp3converter.ActionWait:
		mid := f.job(t, j.ID)
		if mid.Status != mp3converter.JobQueued || mid.Attempts != 0 || !strings.HasPrefix(mid.Error, "waiting for") {
			t.Errorf("after the wait: status %s, %d attempts, reason %q; want queued, 0, waiting", mid.Status, mid.Attempts, mid.Error)
		}
		if err := f.w.Handle(context.Background(), mp3converter.Delivery{Body: msg, Attempt: 3, Final: true}); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("final attempt during the outage: %v, decided %v; want a wait, or the outage waited out", err, dec.Action)
	}
	failed := 0
	for _, c := range jobs.Calls() {
		if c.Failed {
			failed++
		}
	}
	if calls := jobs.Calls(); failed < 2 || calls[len(calls)-1].Failed {
		t.Errorf("%d failed calls, last failed %v: want the status write retried until the store answered", failed, calls[len(calls)-1].Failed)
	}
	if end := f.job(t, j.ID); end.Status != mp3converter.JobDone || end.Attempts != 1 || end.Error != "" {
		t.Errorf("after the outage: %+v", end)
	}
}

// With the job store down, the converter takes the message again and again
// without spending an attempt, pausing longer each time, and converts it
// once the store answers.
func TestJobStoreOutageIsWaitedOut(t *testing.T) {
	f := setup(t)
	j, msg := f.upload(t, testmedia.Make(t, testmedia.MP4, 1))
	const outage = 1500 * time.Millisecond
	start := time.Now()
	jobs := &testsupport.FlakyJobs{JobStore: f.db.Jobs, Down: func(string) bool { return time.Since(start) < outage }}
	policy := mp3converter.RetryPolicy{MaxAttempts: 3, MinBackoff: 50 * time.Millisecond, MaxBackoff: time.Second,
		MinPause: 100 * time.Millisecond, MaxPause: time.Second}
	q := goqite.New(f.db.DB, goqite.Options{Policy: policy, Poll: 20 * time.Millisecond})
	f.w.Queue, f.w.Jobs, f.w.Policy = q, jobs, policy
	if err := q.Publish(context.Background(), "video", msg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { defer close(stopped); f.w.Run(ctx, 1) }()
	defer func() { cancel(); <-stopped }()

	testsupport.Eventually(t, 30*time.Second, "the job done after the outage", func() bool { return f.job(t, j.ID).Status == mp3converter.JobDone })
	if end := f.job(t, j.ID); end.Attempts != 1 {
		t.Errorf("the job shows %d attempts, want 1", end.Attempts)
	}
	var tries []time.Time // deliveries during the outage: each reads the job
	for _, c := range jobs.Calls() {
		if c.Method == "Job" && c.Failed {
			tries = append(tries, c.At)
		}
	}
	if len(tries) < 3 || len(tries) > 8 {
		t.Fatalf("%d deliveries during a %v outage; want a few, with growing pauses", len(tries), outage)
	}
	first, last := tries[1].Sub(tries[0]), tries[len(tries)-1].Sub(tries[len(tries)-2])
	if first < policy.MinPause/2 || last <= first {
		t.Errorf("pauses grew from %v to %v; want from at least %v, growing", first, last, policy.MinPause/2)
	}
	if dl, err := q.DeadLetters(context.Background(), "video"); err != nil || len(dl) != 0 {
		t.Errorf("dead letters: %v, %v", dl, err)
	}
}

// A job left processing with no converter updating it (its last status
// write lost, or its converter killed) is put back to queued by the sweep.
func TestStaleProcessingJobIsRequeued(t *testing.T) {
	f := setup(t)
	j, _ := f.upload(t, testmedia.Make(t, testmedia.MP4, 1))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := f.db.Jobs.UpdateJob(ctx, j.ID, func(j *mp3converter.Job) error { j.Status = mp3converter.JobProcessing; return nil }); err != nil {
		t.Fatal(err)
	}
	f.w.StaleAfter = 200 * time.Millisecond
	go f.w.Run(ctx, 1)
	testsupport.Eventually(t, 5*time.Second, "the stale processing job requeued", func() bool { return f.job(t, j.ID).Status == mp3converter.JobQueued })
	if got := f.job(t, j.ID); got.Error == "" {
		t.Errorf("requeued without a reason: %+v", got)
	}
}
