package conversion_test

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/ffmpeg"
	"github.com/mp3converter/mp3converter/goqite"
	"github.com/mp3converter/mp3converter/internal/testmedia"
	"github.com/mp3converter/mp3converter/internal/testsupport"
)

// batching returns a fixture whose worker batches up to 4 conversions,
// on goqite, with an ffmpeg that starts after pause seconds (so that the
// jobs queued meanwhile wait for a core) and counts its runs.
func batching(t *testing.T, pause string) (*fixture, *goqite.Queue, func() int) {
	f := setup(t)
	script, runs := testmedia.CountingFFmpeg(t, pause)
	q := goqite.New(f.db.DB, goqite.Options{Poll: 20 * time.Millisecond})
	f.w.Queue, f.w.Transcoder, f.w.Batch = q, &ffmpeg.Transcoder{FFmpeg: script}, 4
	return f, q, runs
}

// queueUploads stores and queues an upload of each of srcs.
func (f *fixture) queueUploads(t *testing.T, q mp3converter.Queue, srcs ...string) []*mp3converter.Job {
	var jobs []*mp3converter.Job
	for _, src := range srcs {
		j, msg := f.upload(t, src)
		if err := q.Publish(context.Background(), "video", msg); err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, j)
	}
	return jobs
}

// ended waits until every job is done or failed, and returns them.
func (f *fixture) ended(t *testing.T, jobs []*mp3converter.Job) []*mp3converter.Job {
	var end []*mp3converter.Job
	testsupport.Eventually(t, 2*time.Minute, "every job ended", func() bool {
		end = end[:0]
		for _, j := range jobs {
			j = f.job(t, j.ID)
			if j.Status != mp3converter.JobDone && j.Status != mp3converter.JobFailed {
				return false
			}
			end = append(end, j)
		}
		return true
	})
	return end
}

// TestBatches: with jobs waiting for a core, the short ones share runs of
// ffmpeg, and each is done with its own length.
func TestBatches(t *testing.T) {
	f, q, runs := batching(t, "0.5")
	n := runtime.NumCPU() // as many workers as cores: the jobs past n wait for one
	var srcs []string
	for i := range 3 * n {
		srcs = append(srcs, testmedia.Make(t, testmedia.MP4, float64(1+i%3)))
	}
	jobs := f.queueUploads(t, q, srcs...)
	f.run(t, n)
	for i, j := range f.ended(t, jobs) {
		if want := float64(1 + i%3); j.Status != mp3converter.JobDone || !ffmpeg.DurationsMatch(want, j.Duration) || j.MP3Size == 0 || j.Attempts != 1 {
			t.Errorf("a %v s upload: %s, %.2f s, %d bytes, %d attempts: %s", want, j.Status, j.Duration, j.MP3Size, j.Attempts, j.Error)
		}
	}
	if got := runs(); got >= 3*n {
		t.Errorf("%d runs of ffmpeg for %d jobs: no batch", got, 3*n)
	}
	t.Logf("%d runs of ffmpeg for %d jobs on %d cores", runs(), 3*n, n)
}

// TestBatchDamaged: a damaged upload that shares a run fails with its own
// reason, after one attempt, and the others are done.
func TestBatchDamaged(t *testing.T) {
	f, q, _ := batching(t, "0.5")
	n := runtime.NumCPU()
	var srcs []string
	for range n + 1 {
		srcs = append(srcs, testmedia.Make(t, testmedia.MP4, 2))
	}
	srcs = append(srcs, testmedia.Damaged(t), testmedia.Make(t, testmedia.MKV, 2))
	jobs := f.queueUploads(t, q, srcs...)
	f.run(t, n)
	for i, j := range f.ended(t, jobs) {
		if i == n+1 {
			if j.Status != mp3converter.JobFailed || !strings.Contains(j.Error, "damaged") || j.Attempts != 1 {
				t.Errorf("the damaged upload: %s %q after %d attempts", j.Status, j.Error, j.Attempts)
			}
		} else if j.Status != mp3converter.JobDone || !ffmpeg.DurationsMatch(2, j.Duration) {
			t.Errorf("upload %d: %s, %.2f s: %s", i, j.Status, j.Duration, j.Error)
		}
	}
}

// TestBatchMemberDeleted: a job deleted while its run of ffmpeg goes on
// stops waiting for it and stores nothing; the run goes on for the
// others, which are done.
func TestBatchMemberDeleted(t *testing.T) {
	f, q, _ := batching(t, "1.5") // longer than a progress write's second
	n := runtime.NumCPU()
	var srcs []string
	for range 3 * n {
		srcs = append(srcs, testmedia.Make(t, testmedia.MP4, 2))
	}
	jobs := f.queueUploads(t, q, srcs...)
	f.run(t, n)
	gone := jobs[n+1] // waited, so converts in a run with others
	testsupport.Eventually(t, time.Minute, "the job converting", func() bool { return f.job(t, gone.ID).Status == mp3converter.JobProcessing })
	if err := f.db.Jobs.DeleteJob(context.Background(), gone.ID); err != nil {
		t.Fatal(err)
	}
	var rest []*mp3converter.Job
	for _, j := range jobs {
		if j != gone {
			rest = append(rest, j)
		}
	}
	for _, j := range f.ended(t, rest) {
		if j.Status != mp3converter.JobDone || !ffmpeg.DurationsMatch(2, j.Duration) {
			t.Errorf("%s beside a deleted job: %s, %.2f s: %s", j.ID, j.Status, j.Duration, j.Error)
		}
	}
	if got := f.files(t, "mp3s"); got != len(rest) {
		t.Errorf("%d MP3s stored for %d jobs left", got, len(rest))
	}
}

// slowBatch is a BatchTranscoder for which the file titled "slow" never
// finishes decoding, alone or in a shared run: a pathological upload.
type slowBatch struct{ *ffmpeg.Transcoder }

func (s slowBatch) ToMP3(ctx context.Context, src, dst string, info *mp3converter.MediaInfo, opts mp3converter.TranscodeOptions) (*mp3converter.TranscodeResult, error) {
	if opts.Title == "slow" {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return s.Transcoder.ToMP3(ctx, src, dst, info, opts)
}

func (s slowBatch) ToMP3s(ctx context.Context, cs []mp3converter.Conversion) ([]*mp3converter.TranscodeResult, []error) {
	for _, c := range cs {
		if c.Opts.Title == "slow" {
			<-ctx.Done()
			errs := make([]error, len(cs))
			for i := range errs {
				errs[i] = ctx.Err()
			}
			return make([]*mp3converter.TranscodeResult, len(cs)), errs
		}
	}
	return s.Transcoder.ToMP3s(ctx, cs)
}

// TestBatchSlowMember: a file too slow to decode does not make the others
// in its run fail for their budgets: past half of the shortest budget
// each converts alone, and only the slow one fails, for its own.
func TestBatchSlowMember(t *testing.T) {
	f, q, _ := batching(t, "0.5")
	f.w.Transcoder = slowBatch{f.w.Transcoder.(*ffmpeg.Transcoder)}
	f.w.MinBudget = 4 * time.Second // 6 s for a 1 s clip: its run gets 3
	n := runtime.NumCPU()
	var srcs []string
	for range 3 * n {
		srcs = append(srcs, testmedia.Make(t, testmedia.MP4, 1))
	}
	jobs := f.queueUploads(t, q, srcs...)
	slow := jobs[n+1] // waits, so shares a run
	if _, err := f.db.Jobs.UpdateJob(context.Background(), slow.ID, func(j *mp3converter.Job) error { j.Filename = "slow.mp4"; return nil }); err != nil {
		t.Fatal(err)
	}
	f.run(t, n)
	for _, j := range f.ended(t, jobs) {
		switch {
		case j.ID == slow.ID:
			if j.Status != mp3converter.JobFailed || !strings.Contains(j.Error, "took longer than its 6s budget") {
				t.Errorf("the slow file: %s %q", j.Status, j.Error)
			}
		case j.Status != mp3converter.JobDone || !ffmpeg.DurationsMatch(1, j.Duration):
			t.Errorf("%s beside a slow file: %s, %.2f s: %s", j.ID, j.Status, j.Duration, j.Error)
		}
	}
}
