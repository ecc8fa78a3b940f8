package conversion_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/ffmpeg"
	"github.com/mp3converter/mp3converter/goqite"
	"github.com/mp3converter/mp3converter/internal/testmedia"
	"github.com/mp3converter/mp3converter/internal/testsupport"
	"github.com/mp3converter/mp3converter/localfs"
)

// adoptHook runs before each MP3 is stored.
type adoptHook struct {
	*localfs.Store
	before func(fid string)
}

func (s adoptHook) Adopt(ctx context.Context, fid, path string) (int64, error) {
	s.before(fid)
	return s.Store.Adopt(ctx, fid, path)
}

// TestNextJobWhileAnswering: on a GatedQueue a converter with one
// conversion starts the next job while the last one's MP3 is stored and
// recorded, and still takes no third job while that second one converts:
// it stays on the queue, for any converter.
func TestNextJobWhileAnswering(t *testing.T) {
	f := setup(t)
	q := goqite.New(f.db.DB, goqite.Options{Poll: 20 * time.Millisecond})
	f.w.Queue = q
	var mu sync.Mutex
	var events []string
	note := func(e string) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, e)
	}
	secondStarted, secondMayEnd := make(chan struct{}), make(chan struct{})
	f.w.Transcoder = &transcoder{toMP3: func(ctx context.Context, src, dst string, info *mp3converter.MediaInfo, opts mp3converter.TranscodeOptions) (*mp3converter.TranscodeResult, error) {
		note("convert " + opts.Title)
		if opts.Title == "second" {
			close(secondStarted)
			<-secondMayEnd
		}
		return (&ffmpeg.Transcoder{}).ToMP3(ctx, src, dst, info, opts)
	}}
	var jobs []*mp3converter.Job
	first := true
	mp3s := f.w.MP3s.(*localfs.Store)
	f.w.MP3s = adoptHook{mp3s, func(string) {
		mu.Lock()
		wait := first
		first = false
		mu.Unlock()
		if !wait {
			return
		}
		note("store first")
		select { // the first job's MP3 waits for the second job's start
		case <-secondStarted:
		case <-time.After(15 * time.Second):
		}
		note("stored first")
	}}
	for _, name := range []string{"first", "second", "third"} {
		j, msg := f.upload(t, testmedia.Make(t, testmedia.MP4, 1))
		f.db.Jobs.UpdateJob(context.Background(), j.ID, func(j *mp3converter.Job) error { j.Filename = name + ".mp4"; return nil })
		jobs = append(jobs, j)
		if err := q.Publish(context.Background(), "video", msg); err != nil {
			t.Fatal(err)
		}
	}
	f.run(t, 1)

	select {
	case <-secondStarted:
	case <-time.After(20 * time.Second):
		t.Fatal("the second job did not start while the first one's MP3 was stored")
	}
	time.Sleep(300 * time.Millisecond) // time for a wrong third delivery
	if n, err := q.Depth(context.Background(), "video"); err != nil || n != 1 {
		t.Errorf("queue depth while the second job converts: %d, %v; want 1, the third job", n, err)
	}
	if j := f.job(t, jobs[2].ID); j.Status != mp3converter.JobQueued || j.Attempts != 0 {
		t.Errorf("third job %s after %d attempts while the second converts; want queued", j.Status, j.Attempts)
	}
	close(secondMayEnd)
	for _, j := range jobs {
		testsupport.Eventually(t, 20*time.Second, j.Filename+" done", func() bool { return f.job(t, j.ID).Status == mp3converter.JobDone })
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"convert first", "store first", "convert second", "stored first", "convert third"}
	if len(events) != len(want) {
		t.Fatalf("events %q, want %q", events, want)
	}
	for i := range want {
		if events[i] != want[i] {
			t.Fatalf("events %q, want %q", events, want)
		}
	}
}
