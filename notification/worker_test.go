package notification_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/internal/testsupport"
	"github.com/mp3converter/mp3converter/notification"
)

// notifier is a fake with a function field.
type notifier struct {
	sent   []mp3converter.Mail
	notify func(mp3converter.Mail) error
}

func (n *notifier) Notify(_ context.Context, m mp3converter.Mail) error {
	if n.notify != nil {
		if err := n.notify(m); err != nil {
			return err
		}
	}
	n.sent = append(n.sent, m)
	return nil
}

func setup(t *testing.T) (*notification.Worker, *notifier, mp3converter.JobStore) {
	t.Helper()
	db := testsupport.SQLite(t)
	n := &notifier{}
	return &notification.Worker{Notifier: n, Jobs: db.Jobs, MP3Queue: "mp3", PublicURL: "http://x", Logger: slog.New(slog.DiscardHandler)}, n, db.Jobs
}

func doneJob(t *testing.T, jobs mp3converter.JobStore) (*mp3converter.Job, []byte) {
	t.Helper()
	j := &mp3converter.Job{ID: mp3converter.NewID(), Owner: "ann@example.com", VideoFID: mp3converter.NewID(),
		MP3FID: mp3converter.NewID(), Status: mp3converter.JobDone, Filename: "a.mkv"}
	if err := jobs.CreateJob(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	body, _ := mp3converter.Message{VideoFID: j.VideoFID, MP3FID: j.MP3FID, Username: j.Owner, JobID: j.ID, Filename: j.Filename}.MarshalJSON()
	return j, body
}

func TestOneMailPerJob(t *testing.T) {
	w, n, jobs := setup(t)
	j, body := doneJob(t, jobs)
	for i := 1; i <= 3; i++ {
		if err := w.Handle(context.Background(), mp3converter.Delivery{Body: body, Attempt: i}); err != nil {
			t.Fatal(err)
		}
	}
	if len(n.sent) != 1 {
		t.Fatalf("%d mails for one job", len(n.sent))
	}
	if got, _ := jobs.Job(context.Background(), j.ID); got.NotifiedAt == nil {
		t.Error("NotifiedAt not recorded")
	}
}

func TestDeletedJobIsNotAnnounced(t *testing.T) {
	w, n, jobs := setup(t)
	j, body := doneJob(t, jobs)
	jobs.DeleteJob(context.Background(), j.ID)
	if err := w.Handle(context.Background(), mp3converter.Delivery{Body: body, Attempt: 1}); err != nil {
		t.Fatal(err)
	}
	if len(n.sent) != 0 {
		t.Error("a deleted job was announced")
	}
}

func TestNotifyFailures(t *testing.T) {
	w, n, jobs := setup(t)
	_, body := doneJob(t, jobs)
	n.notify = func(mp3converter.Mail) error { return mp3converter.ErrUnavailable }
	err := w.Handle(context.Background(), mp3converter.Delivery{Body: body, Attempt: 1})
	if err == nil || mp3converter.IsPermanent(err) {
		t.Errorf("SMTP down: %v, want a transient error (retried)", err)
	}
	n.notify = func(mp3converter.Mail) error { return mp3converter.Permanent(errors.New("550 no such user")) }
	if err := w.Handle(context.Background(), mp3converter.Delivery{Body: body, Attempt: 2}); !mp3converter.IsPermanent(err) {
		t.Errorf("recipient refused: %v, want permanent", err)
	}
	n.notify = nil
	if err := w.Handle(context.Background(), mp3converter.Delivery{Body: body, Attempt: 3}); err != nil || len(n.sent) != 1 {
		t.Errorf("after recovery: %v, %d sent", err, len(n.sent))
	}
	for _, bad := range []string{`{}`, `not json`, `{"video_fid":"0123456789abcdef01234567","mp3_fid":null,"username":"a@b.c"}`,
		`{"video_fid":"0123456789abcdef01234567","mp3_fid":"0123456789abcdef01234567","username":"not an email"}`} {
		if err := w.Handle(context.Background(), mp3converter.Delivery{Body: []byte(bad), Attempt: 1}); !mp3converter.IsPermanent(err) {
			t.Errorf("malformed %s: %v, want permanent", bad, err)
		}
	}
}
