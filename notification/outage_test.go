package notification_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/internal/testsupport"
)

// While the job store is down nothing is mailed and the message waits
// uncounted; a mail sent just before the store went down is recorded once
// it answers, so that no redelivery mails twice.
func TestJobStoreOutage(t *testing.T) {
	w, n, store := setup(t)
	j, body := doneJob(t, store)
	var down atomic.Bool
	down.Store(true)
	jobs := &testsupport.FlakyJobs{JobStore: store, Down: func(string) bool { return down.Load() }}
	w.Jobs = jobs
	w.Policy = mp3converter.RetryPolicy{MinPause: time.Millisecond, MaxPause: 5 * time.Millisecond}

	err := w.Handle(context.Background(), mp3converter.Delivery{Body: body, Attempt: 3, Final: true})
	if dec := mp3converter.DefaultRetryPolicy.Decide(3, err); dec.Action != mp3converter.ActionWait || len(n.sent) != 0 {
		t.Fatalf("store down: %v (decided %v), %d mails; want ActionWait and none", err, dec.Action, len(n.sent))
	}

	// Up to the mail; down for the record of it, for a while.
	down.Store(false)
	n.notify = func(mp3converter.Mail) error {
		down.Store(true)
		time.AfterFunc(50*time.Millisecond, func() { down.Store(false) })
		return nil
	}
	if err := w.Handle(context.Background(), mp3converter.Delivery{Body: body, Attempt: 3, Final: true}); err != nil {
		t.Fatal(err)
	}
	n.notify = nil
	if got, _ := store.Job(context.Background(), j.ID); got.NotifiedAt == nil {
		t.Fatal("the mail sent during the outage was not recorded")
	}
	if err := w.Handle(context.Background(), mp3converter.Delivery{Body: body, Attempt: 1}); err != nil || len(n.sent) != 1 {
		t.Errorf("redelivery after the outage: %v, %d mails; want one mail in all", err, len(n.sent))
	}
}
