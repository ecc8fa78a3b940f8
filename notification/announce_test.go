package notification_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/localfs"
)

// TestAnnouncementFromAnotherConverter: a job of our gateway's that another
// converter (the original's) converted is still queued with no MP3; the
// announcement makes it done, with the MP3's fid and size, once.
func TestAnnouncementFromAnotherConverter(t *testing.T) {
	w, n, jobs := setup(t)
	mp3s, err := localfs.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	w.MP3s = mp3s
	ctx := context.Background()
	j := &mp3converter.Job{ID: mp3converter.NewID(), Owner: "ann@example.com", VideoFID: mp3converter.NewID(), Status: mp3converter.JobQueued, Filename: "a.mkv"}
	if err := jobs.CreateJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	fid := mp3converter.NewID()
	if _, err := mp3s.Put(ctx, fid, bytes.NewReader(make([]byte, 1234))); err != nil {
		t.Fatal(err)
	}
	// What the original converter publishes: the message it got, with mp3_fid.
	msg := mp3converter.Message{VideoFID: j.VideoFID, MP3FID: fid, Username: j.Owner, JobID: j.ID, Filename: j.Filename}
	body, _ := msg.MarshalJSON()
	for i := 1; i <= 2; i++ {
		if err := w.Handle(ctx, mp3converter.Delivery{Body: body, Attempt: i}); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := jobs.Job(ctx, j.ID)
	if got.Status != mp3converter.JobDone || got.MP3FID != fid || got.MP3Size != 1234 || got.NotifiedAt == nil {
		t.Errorf("job after the announcement: %+v", got)
	}
	if len(n.sent) != 1 {
		t.Errorf("%d mails, want 1", len(n.sent))
	}

	// A job our converter finished keeps its own MP3; nothing is mailed.
	other := mp3converter.Message{VideoFID: j.VideoFID, MP3FID: mp3converter.NewID(), Username: j.Owner, JobID: j.ID}
	body, _ = other.MarshalJSON()
	if err := w.Handle(ctx, mp3converter.Delivery{Body: body, Attempt: 1}); err != nil {
		t.Fatal(err)
	}
	if again, _ := jobs.Job(ctx, j.ID); again.MP3FID != fid || len(n.sent) != 1 {
		t.Errorf("a second announcement changed the job: %+v, %d mails", again, len(n.sent))
	}

	// A message naming someone else's job is refused and changes nothing.
	k := &mp3converter.Job{ID: mp3converter.NewID(), Owner: "bob@example.com", VideoFID: mp3converter.NewID(), Status: mp3converter.JobQueued}
	jobs.CreateJob(ctx, k)
	forged := mp3converter.Message{VideoFID: k.VideoFID, MP3FID: fid, Username: "mallory@example.com", JobID: k.ID}
	body, _ = forged.MarshalJSON()
	if err := w.Handle(ctx, mp3converter.Delivery{Body: body, Attempt: 1}); !mp3converter.IsPermanent(err) {
		t.Errorf("a message naming another user's job: %v, want a permanent error", err)
	}
	if still, _ := jobs.Job(ctx, k.ID); still.Status != mp3converter.JobQueued || still.MP3FID != "" || len(n.sent) != 1 {
		t.Errorf("another user's job after a forged message: %+v, %d mails", still, len(n.sent))
	}
}
