package conversion_test

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/ffmpeg"
	"github.com/mp3converter/mp3converter/goqite"
	"github.com/mp3converter/mp3converter/internal/testmedia"
	"github.com/mp3converter/mp3converter/internal/testsupport"
)

// transcoder probes with ffmpeg and converts with toMP3.
type transcoder struct {
	ffmpeg.Transcoder
	toMP3 func(ctx context.Context, src, dst string, info *mp3converter.MediaInfo, opts mp3converter.TranscodeOptions) (*mp3converter.TranscodeResult, error)
}

func (c *transcoder) ToMP3(ctx context.Context, src, dst string, info *mp3converter.MediaInfo, opts mp3converter.TranscodeOptions) (*mp3converter.TranscodeResult, error) {
	return c.toMP3(ctx, src, dst, info, opts)
}

// stuck writes some output to dst and then hangs until ctx ends, as an
// ffmpeg that stopped making progress does.
func stuck(ctx context.Context, _, dst string, _ *mp3converter.MediaInfo, opts mp3converter.TranscodeOptions) (*mp3converter.TranscodeResult, error) {
	os.WriteFile(dst, make([]byte, 1<<20), 0o600)
	opts.Progress(0.5)
	<-ctx.Done()
	return nil, ctx.Err()
}

// Deleting a job while it converts stops the conversion within about a
// second and frees its scratch files.
func TestDeleteStopsConversion(t *testing.T) {
	f := setup(t)
	f.w.Transcoder = &transcoder{toMP3: stuck}
	j, msg := f.upload(t, testmedia.Make(t, testmedia.MP4, 1))
	done := make(chan error, 1)
	go func() { done <- f.w.Handle(context.Background(), mp3converter.Delivery{Body: msg, Attempt: 1}) }()
	testsupport.Eventually(t, 10*time.Second, "the progress written", func() bool { return f.job(t, j.ID).Progress == 0.5 })
	if f.files(t, "tmp") == 0 {
		t.Fatal("no scratch files while converting")
	}
	deleted := time.Now()
	if err := f.db.Jobs.DeleteJob(context.Background(), j.ID); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Handle = %v, want nil for a deleted job", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("conversion still running 3 s after the job was deleted")
	}
	t.Logf("stopped %v after the delete", time.Since(deleted).Round(time.Millisecond))
	if n := f.files(t, "tmp"); n != 0 {
		t.Errorf("%d scratch files left", n)
	}
}

// A conversion past its budget is stopped, and the job fails saying so.
func TestBudget(t *testing.T) {
	f := setup(t)
	f.w.Transcoder = &transcoder{toMP3: stuck}
	f.w.MinBudget = 300 * time.Millisecond
	j, msg := f.upload(t, testmedia.Make(t, testmedia.MP4, 0.1))
	start := time.Now()
	err := f.w.Handle(context.Background(), mp3converter.Delivery{Body: msg, Attempt: 1})
	if !mp3converter.IsPermanent(err) {
		t.Fatalf("err = %v, want permanent", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("stopped after %v, want about 0.5 s", took)
	}
	got := f.job(t, j.ID)
	if got.Status != mp3converter.JobFailed || !strings.HasPrefix(got.Error, "the conversion took longer than its 5") {
		t.Errorf("job %s %q, want failed: took longer than its 5xx ms budget", got.Status, got.Error)
	}
	if n := f.files(t, "tmp"); n != 0 {
		t.Errorf("%d scratch files left", n)
	}
}

// The Transcoder gets the limit, and the source's title or else the
// upload's name without its extension.
func TestConvertOptions(t *testing.T) {
	for _, tt := range []struct{ src, want string }{
		{testmedia.Tagged(t, "Source Title", 1), "Source Title"},
		{testmedia.Tagged(t, "", 1), "tagged"},
	} {
		f := setup(t)
		f.w.MaxDuration = time.Hour
		var got mp3converter.TranscodeOptions
		f.w.Transcoder = &transcoder{toMP3: func(ctx context.Context, src, dst string, info *mp3converter.MediaInfo, opts mp3converter.TranscodeOptions) (*mp3converter.TranscodeResult, error) {
			got = opts
			return (&ffmpeg.Transcoder{}).ToMP3(ctx, src, dst, info, opts)
		}}
		_, msg := f.upload(t, tt.src)
		if err := f.w.Handle(context.Background(), mp3converter.Delivery{Body: msg, Attempt: 1}); err != nil {
			t.Fatal(err)
		}
		if got.Title != tt.want || got.MaxDuration != time.Hour {
			t.Errorf("options %+v, want title %q and the 1h limit", got, tt.want)
		}
	}
}

// asOwner gives a job and its message another owner.
func (f *fixture) asOwner(t *testing.T, j *mp3converter.Job, owner string) []byte {
	t.Helper()
	if _, err := f.db.Jobs.UpdateJob(context.Background(), j.ID, func(j *mp3converter.Job) error { j.Owner = owner; return nil }); err != nil {
		t.Fatal(err)
	}
	body, _ := mp3converter.Message{VideoFID: j.VideoFID, Username: owner, JobID: j.ID, Filename: j.Filename}.MarshalJSON()
	return body
}

// run runs the worker with n handlers until the test ends.
func (f *fixture) run(t *testing.T, n int) {
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { defer close(stopped); f.w.Run(ctx, n) }()
	t.Cleanup(func() { cancel(); <-stopped })
}

// With two handlers and one job per user at a time while others wait, a
// user with a queue of long jobs takes one handler, and another user's job,
// queued after them, takes the other; the jobs kept waiting spend no
// attempt.
func TestFairShare(t *testing.T) {
	f := setup(t)
	release := make(chan struct{})
	var mu sync.Mutex
	var order []string
	f.w.Transcoder = &transcoder{toMP3: func(ctx context.Context, src, dst string, info *mp3converter.MediaInfo, opts mp3converter.TranscodeOptions) (*mp3converter.TranscodeResult, error) {
		mu.Lock()
		order = append(order, opts.Title)
		mu.Unlock()
		if strings.HasPrefix(opts.Title, "ann") {
			<-release // ann's jobs are long
		}
		return (&ffmpeg.Transcoder{}).ToMP3(ctx, src, dst, info, opts)
	}}
	q := goqite.New(f.db.DB, goqite.Options{Poll: 20 * time.Millisecond})
	f.w.Queue = q
	var anns []*mp3converter.Job
	for _, name := range []string{"ann-1", "ann-2", "ann-3", "bob"} {
		j, msg := f.upload(t, testmedia.Make(t, testmedia.MP4, 1))
		f.db.Jobs.UpdateJob(context.Background(), j.ID, func(j *mp3converter.Job) error { j.Filename = name + ".mp4"; return nil })
		j.Filename = name + ".mp4"
		if name == "bob" {
			msg = f.asOwner(t, j, "bob@example.com")
		} else {
			anns = append(anns, j)
		}
		if err := q.Publish(context.Background(), "video", msg); err != nil {
			t.Fatal(err)
		}
	}
	f.run(t, 2)

	bob, _ := f.db.Jobs.ListJobs(context.Background(), mp3converter.JobFilter{Owner: "bob@example.com"})
	testsupport.Eventually(t, 20*time.Second, "bob's job done while ann's first runs", func() bool {
		return f.job(t, bob[0].ID).Status == mp3converter.JobDone
	})
	// Once bob's is done nobody else waits, so ann's next may take the free
	// handler: what counts is that bob's came before it.
	mu.Lock()
	if len(order) < 2 || order[1] != "bob" {
		t.Errorf("converted in order %v; want bob's second, before ann's queued ahead of it", order)
	}
	mu.Unlock()
	for _, j := range anns {
		switch got := f.job(t, j.ID); {
		case got.Status == mp3converter.JobProcessing && got.Attempts == 1:
		case got.Status != mp3converter.JobQueued || got.Attempts != 0:
			t.Errorf("%s: %s after %d attempts; want processing after 1, or queued with none", j.Filename, got.Status, got.Attempts)
		}
	}
	close(release)
	for _, j := range anns {
		testsupport.Eventually(t, 20*time.Second, j.Filename+" done", func() bool { return f.job(t, j.ID).Status == mp3converter.JobDone })
		if got := f.job(t, j.ID); got.Attempts != 1 {
			t.Errorf("%s: %d attempts, want 1", j.Filename, got.Attempts)
		}
	}
	t.Logf("converted in order %v", order)
}

// A user alone takes every handler: the fair share never leaves one idle
// while jobs wait. With two handlers and one job per user, both of ann's
// jobs convert at once when nobody else has a job queued.
func TestFairShareLoneUser(t *testing.T) {
	f := setup(t)
	release := make(chan struct{})
	started := make(chan string, 2)
	f.w.Transcoder = &transcoder{toMP3: func(ctx context.Context, src, dst string, info *mp3converter.MediaInfo, opts mp3converter.TranscodeOptions) (*mp3converter.TranscodeResult, error) {
		started <- opts.Title
		<-release
		return (&ffmpeg.Transcoder{}).ToMP3(ctx, src, dst, info, opts)
	}}
	q := goqite.New(f.db.DB, goqite.Options{Poll: 20 * time.Millisecond})
	f.w.Queue = q
	var jobs []*mp3converter.Job
	for range 2 {
		j, msg := f.upload(t, testmedia.Make(t, testmedia.MP4, 1))
		jobs = append(jobs, j)
		if err := q.Publish(context.Background(), "video", msg); err != nil {
			t.Fatal(err)
		}
	}
	f.run(t, 2)
	defer close(release)
	for i := range 2 {
		select {
		case <-started:
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of ann's 2 jobs converting with 2 handlers free; want both", i)
		}
	}
	for _, j := range jobs {
		if got := f.job(t, j.ID); got.Attempts != 1 {
			t.Errorf("%s: %d attempts, want 1 (never deferred)", j.ID, got.Attempts)
		}
	}
}
