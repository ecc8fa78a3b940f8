package conversion_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/conversion"
	"github.com/mp3converter/mp3converter/ffmpeg"
	"github.com/mp3converter/mp3converter/internal/memory"
	"github.com/mp3converter/mp3converter/internal/testmedia"
	"github.com/mp3converter/mp3converter/internal/testsupport"
	"github.com/mp3converter/mp3converter/localfs"
	"github.com/mp3converter/mp3converter/sqlite"
)

type fixture struct {
	w      *conversion.Worker
	q      *memory.Queue
	db     *sqlite.DB
	videos *localfs.Store
	dir    string
}

func setup(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	db := testsupport.SQLite(t)
	videos, _ := localfs.Open(filepath.Join(dir, "videos"))
	mp3s, _ := localfs.Open(filepath.Join(dir, "mp3s"))
	q := &memory.Queue{}
	os.MkdirAll(filepath.Join(dir, "tmp"), 0o700)
	w := &conversion.Worker{Videos: videos, MP3s: mp3s, Jobs: db.Jobs, Queue: q, Transcoder: &ffmpeg.Transcoder{},
		VideoQueue: "video", MP3Queue: "mp3", TempDir: filepath.Join(dir, "tmp"), Logger: slog.New(slog.DiscardHandler)}
	return &fixture{w: w, q: q, db: db, videos: videos, dir: dir}
}

// upload stores a video and its job and returns the queue message.
func (f *fixture) upload(t *testing.T, path string) (*mp3converter.Job, []byte) {
	t.Helper()
	ctx := context.Background()
	file, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	j := &mp3converter.Job{ID: mp3converter.NewID(), Owner: "ann@example.com", VideoFID: mp3converter.NewID(), Filename: filepath.Base(path)}
	if _, err := f.videos.Put(ctx, j.VideoFID, file); err != nil {
		t.Fatal(err)
	}
	if err := f.db.Jobs.CreateJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	body, _ := mp3converter.Message{VideoFID: j.VideoFID, Username: j.Owner, JobID: j.ID, Filename: j.Filename}.MarshalJSON()
	return j, body
}

func (f *fixture) job(t *testing.T, id string) *mp3converter.Job {
	t.Helper()
	j, err := f.db.Jobs.Job(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// files counts the blobs and temp files on disk.
func (f *fixture) files(t *testing.T, sub string) int {
	t.Helper()
	n := 0
	filepath.Walk(filepath.Join(f.dir, sub), func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && !strings.HasPrefix(filepath.Base(filepath.Dir(p)), ".") {
			n++
		}
		return nil
	})
	return n
}

// A redelivered message for a done job converts nothing and announces
// nothing again.
func TestRedeliveryOfDoneJob(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	j, msg := f.upload(t, testmedia.Make(t, testmedia.MKV, 2))
	if err := f.w.Handle(ctx, mp3converter.Delivery{Body: msg, Attempt: 1}); err != nil {
		t.Fatal(err)
	}
	done := f.job(t, j.ID)
	if done.Status != mp3converter.JobDone || done.Attempts != 1 || len(f.q.Published()) != 1 {
		t.Fatalf("after one delivery: %s, %d attempts, %d published", done.Status, done.Attempts, len(f.q.Published()))
	}
	if f.files(t, "videos") != 0 || f.files(t, "mp3s") != 1 {
		t.Errorf("files after conversion: %d videos, %d mp3s; want 0, 1", f.files(t, "videos"), f.files(t, "mp3s"))
	}
	// A done job's scratch dir is removed in the background.
	testsupport.Eventually(t, 5*time.Second, "no temp files left", func() bool { return f.files(t, "tmp") == 0 })
	for i := 0; i < 2; i++ {
		if err := f.w.Handle(ctx, mp3converter.Delivery{Body: msg, Attempt: 2 + i}); err != nil {
			t.Fatal(err)
		}
	}
	again := f.job(t, j.ID)
	if again.MP3FID != done.MP3FID || again.Attempts != 1 || len(f.q.Published()) != 1 || f.files(t, "mp3s") != 1 {
		t.Errorf("redeliveries changed things: mp3 %s→%s, attempts %d, %d published, %d mp3s",
			done.MP3FID, again.MP3FID, again.Attempts, len(f.q.Published()), f.files(t, "mp3s"))
	}
}

// An attempt that stored its MP3 but did not finish (here the publish
// fails) leaves no orphan: the retry replaces the same blob.
func TestRetryAfterStoringReplacesTheMP3(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	j, msg := f.upload(t, testmedia.Make(t, testmedia.MP4, 2))
	f.q.FailPublish(1)
	err := f.w.Handle(ctx, mp3converter.Delivery{Body: msg, Attempt: 1})
	if err == nil || mp3converter.IsPermanent(err) {
		t.Fatalf("first attempt: %v, want a transient error", err)
	}
	mid := f.job(t, j.ID)
	if mid.Status != mp3converter.JobQueued || mid.MP3FID == "" || f.files(t, "mp3s") != 1 || mid.Error == "" {
		t.Fatalf("after the failed attempt: %+v, %d mp3s", mid, f.files(t, "mp3s"))
	}
	if err := f.w.Handle(ctx, mp3converter.Delivery{Body: msg, Attempt: 2}); err != nil {
		t.Fatal(err)
	}
	end := f.job(t, j.ID)
	if end.Status != mp3converter.JobDone || end.MP3FID != mid.MP3FID || end.Attempts != 2 || end.Error != "" {
		t.Errorf("after the retry: %+v", end)
	}
	if n := f.files(t, "mp3s"); n != 1 {
		t.Errorf("%d MP3s stored for one job", n)
	}
}

func TestPermanentFailure(t *testing.T) {
	f := setup(t)
	j, msg := f.upload(t, testmedia.Make(t, testmedia.NoAudio, 1))
	err := f.w.Handle(context.Background(), mp3converter.Delivery{Body: msg, Attempt: 1})
	if !mp3converter.IsPermanent(err) {
		t.Fatalf("err = %v, want permanent", err)
	}
	got := f.job(t, j.ID)
	if got.Status != mp3converter.JobFailed || got.Error != "the video has no audio track" || got.Attempts != 1 {
		t.Errorf("job %+v", got)
	}
	if f.files(t, "mp3s") != 0 || f.files(t, "tmp") != 0 || len(f.q.Published()) != 0 {
		t.Error("a failed job left an MP3, temp files or a message")
	}
}

// Out of attempts, a server-side failure fails the job without leaking
// internal detail to the user.
func TestLastAttempt(t *testing.T) {
	f := setup(t)
	j, msg := f.upload(t, testmedia.Make(t, testmedia.MP4, 1))
	f.q.FailPublish(1)
	err := f.w.Handle(context.Background(), mp3converter.Delivery{Body: msg, Attempt: 3, Final: true})
	if err == nil {
		t.Fatal("no error")
	}
	got := f.job(t, j.ID)
	if got.Status != mp3converter.JobFailed || got.Error != "conversion failed after 1 attempts because of a server problem; try again later" {
		t.Errorf("job %+v", got)
	}
	if f.files(t, "mp3s") != 0 {
		t.Error("the failed job's MP3 was kept")
	}
}

// A job deleted while queued is skipped, and one deleted while converting
// leaves nothing behind.
func TestDeletedJob(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	j, msg := f.upload(t, testmedia.Make(t, testmedia.MP4, 1))
	f.db.Jobs.DeleteJob(ctx, j.ID)
	if err := f.w.Handle(ctx, mp3converter.Delivery{Body: msg, Attempt: 1}); err != nil {
		t.Fatal(err)
	}
	if f.files(t, "mp3s") != 0 || len(f.q.Published()) != 0 {
		t.Error("a deleted job was converted")
	}
}

// On shutdown a conversion is handed back, not failed: before it starts,
// and in the middle.
func TestShutdownHandsBack(t *testing.T) {
	f := setup(t)
	j, msg := f.upload(t, testmedia.Make(t, testmedia.MKV, 60))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := f.w.Handle(ctx, mp3converter.Delivery{Body: msg, Attempt: 1}); !errors.Is(err, mp3converter.ErrShutdown) {
		t.Fatalf("before starting: err = %v, want ErrShutdown", err)
	}

	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	handled := make(chan error, 1)
	go func() { handled <- f.w.Handle(ctx, mp3converter.Delivery{Body: msg, Attempt: 1}) }()
	testsupport.Eventually(t, 30*time.Second, "the job converting", func() bool { return f.job(t, j.ID).Status == mp3converter.JobProcessing })
	cancel()
	err := <-handled
	if !errors.Is(err, mp3converter.ErrShutdown) {
		t.Fatalf("mid-conversion: err = %v, want ErrShutdown", err)
	}
	if got := f.job(t, j.ID); got.Status != mp3converter.JobQueued || got.Error != "" || got.Attempts != 1 {
		t.Errorf("job %+v", got)
	}
	if f.files(t, "tmp") != 0 || f.files(t, "mp3s") != 0 {
		t.Error("temp files or an MP3 left")
	}
	// The next delivery finishes it.
	if err := f.w.Handle(context.Background(), mp3converter.Delivery{Body: msg, Attempt: 1}); err != nil {
		t.Fatal(err)
	}
	if got := f.job(t, j.ID); got.Status != mp3converter.JobDone || got.Attempts != 2 {
		t.Errorf("after the hand-back: %+v", got)
	}
}

// A seed gateway's message, without job_id, gets a job keyed by its video.
func TestSeedMessage(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	j, _ := f.upload(t, testmedia.Make(t, testmedia.MP4, 1))
	f.db.Jobs.DeleteJob(ctx, j.ID)
	seed := []byte(`{"video_fid": "` + j.VideoFID + `", "mp3_fid": null, "username": "Seed@Example.com"}`)
	for i := 1; i <= 2; i++ {
		if err := f.w.Handle(ctx, mp3converter.Delivery{Body: seed, Attempt: i}); err != nil {
			t.Fatal(err)
		}
	}
	got := f.job(t, j.VideoFID)
	if got.Status != mp3converter.JobDone || got.Owner != "seed@example.com" || len(f.q.Published()) != 1 {
		t.Errorf("seed job %+v, %d published", got, len(f.q.Published()))
	}
	// Named and sized from the store, not after its fid.
	if got.Size == 0 || !strings.HasPrefix(got.Filename, "video-") || strings.Contains(got.Filename, j.VideoFID) {
		t.Errorf("seed job named %q, size %d", got.Filename, got.Size)
	}
}

func TestMaxDuration(t *testing.T) {
	f := setup(t)
	f.w.MaxDuration = 2 * time.Second
	j, msg := f.upload(t, testmedia.Make(t, testmedia.MP4, 4))
	err := f.w.Handle(context.Background(), mp3converter.Delivery{Body: msg, Attempt: 1})
	if !mp3converter.IsPermanent(err) {
		t.Fatalf("err = %v, want permanent", err)
	}
	if got := f.job(t, j.ID); got.Status != mp3converter.JobFailed || got.Error != "the media lasts 4s, longer than the 2s limit" {
		t.Errorf("job %+v", got)
	}
}

// failingTranscoder probes as ffmpeg does and fails every conversion with
// err.
type failingTranscoder struct {
	mp3converter.Transcoder
	err error
}

func (f failingTranscoder) ToMP3(context.Context, string, string, *mp3converter.MediaInfo, mp3converter.TranscodeOptions) (*mp3converter.TranscodeResult, error) {
	return nil, f.err
}

// The job's status after a failed attempt is what the queue's Decide says
// of the message: one table for both.
func TestStatusFollowsDecide(t *testing.T) {
	policy := mp3converter.RetryPolicy{MaxAttempts: 3, MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond}
	outage := fmt.Errorf("store: %w", mp3converter.ErrUnavailable)
	broken := errors.New("ffmpeg crashed")
	for _, tc := range []struct {
		name    string
		err     error
		attempt int
		status  mp3converter.JobStatus
	}{
		{"an outage", outage, 1, mp3converter.JobQueued},
		{"an outage on the last attempt", outage, 3, mp3converter.JobQueued},
		{"a failure", broken, 1, mp3converter.JobQueued},
		{"a failure on the last attempt", broken, 3, mp3converter.JobFailed},
		{"a permanent failure", mp3converter.Permanent(broken), 1, mp3converter.JobFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t)
			f.w.Policy = policy
			f.w.Transcoder = failingTranscoder{Transcoder: &ffmpeg.Transcoder{}, err: tc.err}
			j, msg := f.upload(t, testmedia.Make(t, testmedia.MP4, 1))
			err := f.w.Handle(context.Background(), mp3converter.Delivery{Body: msg, Attempt: tc.attempt, Final: policy.Final(tc.attempt)})
			dec := policy.Decide(tc.attempt, err)
			got := f.job(t, j.ID)
			want := map[mp3converter.Action]mp3converter.JobStatus{mp3converter.ActionWait: mp3converter.JobQueued,
				mp3converter.ActionRetry: mp3converter.JobQueued, mp3converter.ActionDeadLetter: mp3converter.JobFailed}[dec.Action]
			if got.Status != tc.status || got.Status != want {
				t.Errorf("after %v on attempt %d: job %s (%q), the queue's decision %v; want %s", tc.err, tc.attempt, got.Status, got.Error, dec.Action, tc.status)
			}
		})
	}
}
