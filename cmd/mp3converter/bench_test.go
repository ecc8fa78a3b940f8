package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter/app"
	"github.com/mp3converter/mp3converter/internal/testmedia"
)

// What the user waits for: a whole job, from the upload accepted (202) to
// the job done, against the bare ffmpeg command line doing the same
// conversion of the same file, side by side and interleaved in one run.
// The ratios are what matter: these machines are shared and noisy.

// benchClip is one file of the whole-job benchmarks.
type benchClip struct {
	name    string
	kind    testmedia.Kind
	seconds float64
}

// wholeJobClips are the clips BenchmarkWholeJob and BenchmarkSplit time.
var wholeJobClips = []benchClip{
	{"mp4-aac-10s", testmedia.MP4, 10},
	{"mp4-aac-120s", testmedia.MP4, 120},
	{"mkv-opus-120s", testmedia.MKVOpus, 120},
	{"webm-vorbis-120s", testmedia.WebMVorbis, 120},
	{"mp4-mp3-120s", testmedia.MP4MP3, 120}, // converts by stream copy
}

// BenchmarkWholeJob times whole jobs in serve (2 workers, local disk,
// SQLite, goqite) against bare ffmpeg on 720p H.264 clips. It reports
//   - job/cli: upload accepted to done seen by polling GET /jobs/{id}
//     every 20 ms, over bare ffmpeg;
//   - events/cli: upload accepted to done seen on GET /jobs/events, as
//     the page and convert see it, over bare ffmpeg;
//   - stamps/cli: the job's updated_at - created_at, over bare ffmpeg;
//   - path/cli: the whole path, from the upload's first byte to the MP3's
//     last downloaded, over bare ffmpeg.
func BenchmarkWholeJob(b *testing.B) {
	s := benchServe(b, 0)
	cl := benchUser(b, s, "bench@example.com")
	for _, c := range wholeJobClips {
		src := testmedia.MakeHD(b, c.kind, c.seconds)
		b.Run(c.name, func(b *testing.B) {
			benchJobs(b, cl, src, c.kind == testmedia.MP4MP3)
			benchRawPath(b, cl, src, c.kind == testmedia.MP4MP3)
		})
	}
}

// benchRawPath reports raw-path/cli: the whole path of b.N jobs whose
// upload is the file itself as the body (curl -X POST -T), over bare
// ffmpeg, each job followed by the command line.
func benchRawPath(b *testing.B, cl *client, src string, copied bool) {
	out := filepath.Join(b.TempDir(), "cli.mp3")
	var path, cli time.Duration
	upload := func() accepted {
		resp, body := cl.rawUpload(src, "application/octet-stream", "?filename="+url.QueryEscape(filepath.Base(src)), "")
		return cl.accepted(src, resp, body)
	}
	for i := 0; i < b.N; i++ {
		path += timeJob(b, cl, upload, nil).path
		cli += timeCLI(b, src, out, copied)
	}
	b.ReportMetric(path.Seconds()/cli.Seconds(), "raw-path/cli")
}

// benchServe starts serve with 2 workers, perUser of them for one user (0:
// the default, 1), for a benchmark. It logs warnings only, to the
// benchmark's log.
func benchServe(b *testing.B, perUser int) *testServer {
	return benchServeWith(b, func(cfg *app.Config) { cfg.MaxPerUser = perUser })
}

// benchServeWith is benchServe with the settings set sets.
func benchServeWith(b *testing.B, set func(*app.Config)) *testServer {
	cfg := testConfig(b)
	cfg.MaxUpload, cfg.MaxUploads, cfg.MaxUploadsPerUser = 2<<30, 64, 64
	above, err := time.ParseDuration(app.DefaultParallelAbove)
	if err != nil {
		b.Fatal(err)
	}
	cfg.ParallelAbove = above // as serve runs by default
	cfg.Batch = app.DefaultBatch
	cfg.FFmpeg = testmedia.BenchFFmpeg()
	set(&cfg)
	log := slog.New(slog.NewTextHandler(tWriter{b}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s := newServe(cfg, log, io.Discard)
	if err := s.Run(context.Background()); err != nil {
		s.Close()
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return &testServer{Main: s, URL: "http://" + s.Addr}
}

// benchUser adds a user to s and logs it in.
func benchUser(b *testing.B, s *testServer, email string) *client {
	b.Helper()
	s.addUser(b, email, "bench-password", false)
	return login(b, s.URL, email, "bench-password")
}

// benchJobs runs b.N jobs of src, each followed by the bare command line.
func benchJobs(b *testing.B, cl *client, src string, copied bool) {
	out := filepath.Join(b.TempDir(), "cli.mp3")
	seen := openEvents(b, cl, "") // as the page and convert follow jobs
	var t jobTimes
	var cli time.Duration
	for i := 0; i < b.N; i++ {
		t = t.add(timeJob(b, cl, func() accepted { return cl.upload(src, filepath.Base(src)) }, seen))
		cli += timeCLI(b, src, out, copied)
	}
	reportRatios(b, t, cli)
}

// jobTimes are what a user waits for, summed over jobs.
type jobTimes struct {
	job    time.Duration // from the upload's 202 to done seen by polling
	events time.Duration // from the upload's 202 to done seen on the event stream
	stamps time.Duration // the job's updated_at - created_at
	path   time.Duration // from the upload's first byte to the MP3's last downloaded
}

func (t jobTimes) add(u jobTimes) jobTimes {
	return jobTimes{t.job + u.job, t.events + u.events, t.stamps + u.stamps, t.path + u.path}
}

// reportRatios reports the job's times over the command line's.
func reportRatios(b *testing.B, t jobTimes, cli time.Duration) {
	b.ReportMetric(float64(t.job.Milliseconds())/float64(b.N), "job-ms/op")
	b.ReportMetric(float64(cli.Milliseconds())/float64(b.N), "cli-ms/op")
	b.ReportMetric(t.job.Seconds()/cli.Seconds(), "job/cli")
	if t.events > 0 {
		b.ReportMetric(t.events.Seconds()/cli.Seconds(), "events/cli")
	}
	b.ReportMetric(t.stamps.Seconds()/cli.Seconds(), "stamps/cli")
	if t.path > 0 {
		b.ReportMetric(t.path.Seconds()/cli.Seconds(), "path/cli")
	}
}

// timeJob uploads a file with upload, waits for its job and downloads its
// MP3; with seen, it also times when the job's done event came on it.
func timeJob(b *testing.B, cl *client, upload func() accepted, seen *sseStream) jobTimes {
	b.Helper()
	begin := time.Now()
	a := upload()
	start := time.Now()
	j := pollDone(b, cl, a.JobID)
	done := time.Since(start)
	var events time.Duration
	if seen != nil {
		ev, _ := seen.waitFor("the done event", time.Minute, jobEvent(b, a.JobID, func(j jobView) bool { return j.Status == "done" }))
		events = ev.At.Sub(start)
	}
	if j.MP3FID == nil {
		b.Fatalf("job %s done without an MP3", j.ID)
	}
	resp, err := http.DefaultClient.Do(cl.request("GET", "/download?fid="+*j.MP3FID, nil))
	if err != nil {
		b.Fatal(err)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("download: %s %v", resp.Status, err)
	}
	return jobTimes{job: done, events: events, stamps: j.UpdatedAt.Sub(j.CreatedAt), path: time.Since(begin)}
}

// pollDone polls job id every 20 ms until it is done, without the API
// check of client.job, which would cost the converter CPU.
func pollDone(b *testing.B, cl *client, id string) jobView {
	b.Helper()
	return pollEvery(b, cl, id, 20*time.Millisecond)
}

// pollEvery is pollDone polling every d.
func pollEvery(b *testing.B, cl *client, id string, d time.Duration) jobView {
	b.Helper()
	for deadline := time.Now().Add(5 * time.Minute); time.Now().Before(deadline); time.Sleep(d) {
		resp, err := http.DefaultClient.Do(cl.request("GET", "/jobs/"+id, nil))
		if err != nil {
			b.Fatal(err)
		}
		var j jobView
		err = json.NewDecoder(resp.Body).Decode(&j)
		resp.Body.Close()
		switch {
		case err != nil:
			b.Fatalf("GET /jobs/%s: %v", id, err)
		case j.Status == "failed":
			b.Fatalf("job %s failed: %+v", id, j)
		case j.Status == "done":
			return j
		}
	}
	b.Fatalf("job %s not done after 5 minutes", id)
	return jobView{}
}

// timeCLI times bare ffmpeg on src with the job's settings: LAME VBR
// quality 2, or a stream copy for MP3 audio.
func timeCLI(b *testing.B, src, out string, copied bool) time.Duration {
	b.Helper()
	d, err := runCLI(src, out, copied)
	if err != nil {
		b.Fatal(err)
	}
	return d
}

// runCLI runs and times the command line timeCLI runs.
func runCLI(src, out string, copied bool) (time.Duration, error) {
	start := time.Now()
	if err := testmedia.RunCLI(src, out, copied); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// BenchmarkThroughput times 20 ten-second jobs on 2 workers, with serve's
// defaults (--batch 4: the jobs waiting for a worker share runs of
// ffmpeg), from the
// first upload's start to the last job done (its updated_at: the jobs are
// polled only every 100 ms, since each poll costs the server CPU that the
// jobs would otherwise have), against 20 bare command lines, 2 at a time,
// run after the jobs in one round and before them in the next. It reports
// throughput-ratio: the command lines' time over the jobs' (1: as fast). Either one user, whom MaxPerUser 2 lets use
// both workers, uploads them all, or two users, 10 each, alternately,
// whom the default fair share (one worker per user) keeps apart. It also
// reports where the CPU went (see reportCPU).
//
// Each runs with two bodies: raw, the file itself as the body (curl -X POST -T),
// which the client sends from the file with sendfile and the server reads
// in one copy; and form, a multipart form sent from memory, as a browser
// sends it.
//
// The alone cases run with --batch 1, each job in a run of ffmpeg of its
// own: what batches save shows side by side.
func BenchmarkThroughput(b *testing.B) {
	for _, c := range []struct {
		name       string
		raw, alone bool
	}{{"raw", true, false}, {"form", false, false}, {"raw/alone", true, true}} {
		serve := func(b *testing.B, perUser int) *testServer {
			return benchServeWith(b, func(cfg *app.Config) {
				cfg.MaxPerUser = perUser
				if c.alone {
					cfg.Batch = 1
				}
			})
		}
		b.Run("one-user/"+c.name, func(b *testing.B) {
			s := serve(b, 2)
			benchThroughput(b, c.raw, benchUser(b, s, "bench@example.com"))
		})
		b.Run("two-users/"+c.name, func(b *testing.B) {
			s := serve(b, 0)
			benchThroughput(b, c.raw, benchUser(b, s, "bench-a@example.com"), benchUser(b, s, "bench-b@example.com"))
		})
	}
}

// benchThroughput is BenchmarkThroughput for the users given, sending
// each file raw or in a form.
func benchThroughput(b *testing.B, raw bool, users ...*client) {
	src := testmedia.MakeHD(b, testmedia.MP4, 10)
	// Built once: the benchmark's client shares the machine with the
	// server, and sending a form from memory costs it little more than
	// the kernel's copy.
	form, ctype := formBody(b, src, nil, nil)
	upload := func(cl *client) (*http.Response, []byte) {
		if raw {
			return cl.rawUpload(src, "video/mp4", "?filename=clip.mp4", "")
		}
		return cl.postUpload(bytes.NewReader(form), ctype)
	}
	dir := b.TempDir()
	var jobs, cli time.Duration
	var goCPU, jobsFFmpeg, cliFFmpeg time.Duration // CPU time: see reportCPU
	clis := func() {
		_, c0 := testmedia.CPUUsed()
		cli += timeCLIs(b, src, dir, 20, 2)
		_, c1 := testmedia.CPUUsed()
		cliFFmpeg += c1 - c0
	}
	for i := 0; i < b.N; i++ {
		if i%2 == 1 {
			clis() // every other round first: drift in the machine's speed cancels
		}
		self, children := testmedia.CPUUsed()
		start := time.Now()
		ids := make([]string, 20)
		for k := range ids {
			cl := users[k%len(users)]
			resp, body := upload(cl)
			ids[k] = cl.accepted("clip", resp, body).JobID
		}
		var last time.Time
		for k, id := range ids {
			if j := pollEvery(b, users[k%len(users)], id, 100*time.Millisecond); j.UpdatedAt.After(last) {
				last = j.UpdatedAt
			}
		}
		jobs += last.Sub(start)
		self2, children2 := testmedia.CPUUsed()
		goCPU, jobsFFmpeg = goCPU+self2-self, jobsFFmpeg+children2-children
		if i%2 == 0 {
			clis()
		}
	}
	b.ReportMetric(float64(jobs.Milliseconds())/float64(b.N), "jobs-ms/op")
	b.ReportMetric(float64(cli.Milliseconds())/float64(b.N), "cli-ms/op")
	b.ReportMetric(cli.Seconds()/jobs.Seconds(), "throughput-ratio")
	reportCPU(b, 20*b.N, goCPU, jobsFFmpeg, cliFFmpeg)
}

// reportCPU reports where the CPU of n jobs went, which bounds what
// throughput two shared cores allow: go-cpu-ms/job, this process's CPU
// while the jobs ran (the server, and the benchmark's client sending the
// uploads and polling), per job; ffmpeg-cpu/cli-cpu, the jobs' ffmpeg
// against the command lines'; and cpu-bound, the throughput-ratio at
// which the jobs' CPU would fill the cores as fully as the command lines'.
func reportCPU(b *testing.B, n int, goCPU, jobsFFmpeg, cliFFmpeg time.Duration) {
	b.ReportMetric(float64(goCPU.Microseconds())/1000/float64(n), "go-cpu-ms/job")
	b.ReportMetric(jobsFFmpeg.Seconds()/cliFFmpeg.Seconds(), "ffmpeg-cpu/cli-cpu")
	b.ReportMetric(cliFFmpeg.Seconds()/(goCPU+jobsFFmpeg).Seconds(), "cpu-bound")
}

// timeCLIs times n bare command lines on src, par at a time.
func timeCLIs(b *testing.B, src, dir string, n, par int) time.Duration {
	next := make(chan int, n)
	for k := range n {
		next <- k
	}
	close(next)
	errs := make(chan error, n)
	start := time.Now()
	var wg sync.WaitGroup
	for range par {
		wg.Go(func() {
			for k := range next {
				_, err := runCLI(src, filepath.Join(dir, fmt.Sprintf("cli-%d.mp3", k)), false)
				errs <- err
			}
		})
	}
	wg.Wait()
	d := time.Since(start)
	close(errs)
	for err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	return d
}
