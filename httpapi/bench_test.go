package httpapi

import (
	"context"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/internal/memory"
	"github.com/mp3converter/mp3converter/internal/testsupport"
	"github.com/mp3converter/mp3converter/localfs"
)

// zeros is an endless stream of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// BenchmarkUploadMemory sends a 256 MiB file through the real HTTP stack
// into the local store, then downloads it, and compares the heap each
// takes with what reading the same upload whole into memory takes (what
// the original system did). The ratios are of peak heap growth.
func BenchmarkUploadMemory(b *testing.B) {
	const size = 256 << 20
	dir := b.TempDir()
	videos, _ := localfs.Open(dir + "/videos")
	jobs := &memJobs{jobs: map[string]*mp3converter.Job{}}
	g := &Gateway{Tokens: anyToken{}, Jobs: jobs, Videos: videos, MP3s: videos, Queue: &memory.Queue{},
		VideoQueue: "video", MaxUpload: 1 << 30, Logger: slog.New(slog.DiscardHandler)}
	srv := httptest.NewServer(g.Handler())
	defer srv.Close()
	upload := func() string {
		pr, pw := io.Pipe()
		mw := multipart.NewWriter(pw)
		go func() {
			w, _ := mw.CreateFormFile("file", "big.mp4")
			io.Copy(w, io.LimitReader(zeros{}, size))
			pw.CloseWithError(mw.Close())
		}()
		req, _ := http.NewRequest("POST", srv.URL+"/upload", pr)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		req.Header.Set("Authorization", "Bearer x")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 202 {
			b.Fatalf("upload: %d %s", resp.StatusCode, body)
		}
		for id, j := range jobs.jobs {
			delete(jobs.jobs, id)
			return j.VideoFID
		}
		return ""
	}
	var up, down, whole uint64
	for i := 0; i < b.N; i++ {
		var fid string
		up += testsupport.PeakHeap(func() { fid = upload() })
		// Serve the stored file as a done job's MP3.
		jobs.jobs[fid] = &mp3converter.Job{ID: fid, Owner: "ann@example.com", Status: mp3converter.JobDone, MP3FID: fid}
		down += testsupport.PeakHeap(func() {
			req, _ := http.NewRequest("GET", srv.URL+"/download?fid="+fid, nil)
			req.Header.Set("Authorization", "Bearer x")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			if resp.StatusCode != 200 {
				msg, _ := io.ReadAll(resp.Body)
				b.Fatalf("download: %d %s", resp.StatusCode, msg)
			}
			n, _ := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if n != size {
				b.Fatalf("downloaded %d bytes", n)
			}
		})
		delete(jobs.jobs, fid)
		videos.Delete(context.Background(), fid)
		whole += testsupport.PeakHeap(func() {
			buf, _ := io.ReadAll(io.LimitReader(zeros{}, size))
			runtime.KeepAlive(buf)
		})
	}
	n := float64(b.N)
	b.ReportMetric(float64(up)/n/(1<<20), "upload-heap-MiB")
	b.ReportMetric(float64(down)/n/(1<<20), "download-heap-MiB")
	b.ReportMetric(float64(whole)/n/(1<<20), "buffered-heap-MiB")
	b.ReportMetric(float64(up)/float64(whole), "upload/buffered")
	b.ReportMetric(float64(down)/float64(whole), "download/buffered")
}
