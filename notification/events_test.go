package notification_test

import (
	"context"
	"errors"
	"testing"

	"github.com/mp3converter/mp3converter"
)

// jobEvents is a fake with a function field.
type jobEvents struct {
	finished func(*mp3converter.Job) error
}

func (e jobEvents) JobFinished(_ context.Context, j *mp3converter.Job) error { return e.finished(j) }

// TestJobDoneEvent: every delivery of a done job's announcement tells the
// events (which record it once), before the mail; a failure to record is
// retried by the queue, and no mail goes out until it is recorded.
func TestJobDoneEvent(t *testing.T) {
	w, n, jobs := setup(t)
	j, body := doneJob(t, jobs)
	var told []string
	fail := mp3converter.Errorf(mp3converter.EUNAVAILABLE, "database down")
	w.Events = jobEvents{finished: func(got *mp3converter.Job) error {
		told = append(told, got.ID+" "+string(got.Status))
		if len(told) == 1 {
			return fail
		}
		return nil
	}}
	if err := w.Handle(context.Background(), mp3converter.Delivery{Body: body, Attempt: 1}); !errors.Is(err, fail) || len(n.sent) != 0 {
		t.Fatalf("with the event unrecorded: %v, %d mails", err, len(n.sent))
	}
	for i := 2; i <= 3; i++ {
		if err := w.Handle(context.Background(), mp3converter.Delivery{Body: body, Attempt: i}); err != nil {
			t.Fatal(err)
		}
	}
	if len(told) != 3 || told[2] != j.ID+" done" || len(n.sent) != 1 {
		t.Errorf("told %v, %d mails", told, len(n.sent))
	}
}
