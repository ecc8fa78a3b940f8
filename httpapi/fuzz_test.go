package httpapi

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/auth"
	"github.com/mp3converter/mp3converter/internal/memory"
)

// A job store just big enough for the upload route; the blobs and the
// queue are internal/memory's.

type memJobs struct {
	mp3converter.JobStore // only the methods below are used
	jobs                  map[string]*mp3converter.Job
}

func (m *memJobs) JobByMP3(_ context.Context, fid string) (*mp3converter.Job, error) {
	for _, j := range m.jobs {
		if j.MP3FID == fid {
			return j, nil
		}
	}
	return nil, mp3converter.ErrNotFound
}

func (m *memJobs) CreateJob(_ context.Context, j *mp3converter.Job) error {
	m.jobs[j.ID] = j
	return nil
}

func (m *memJobs) DeleteJob(_ context.Context, id string) error {
	delete(m.jobs, id)
	return nil
}

type anyToken struct{}

func (anyToken) Verify(context.Context, string) (*auth.Claims, error) {
	return &auth.Claims{Username: "ann@example.com"}, nil
}

// FuzzUpload feeds arbitrary multipart bodies to POST /upload: the answer is
// never a 5xx, a refused upload leaves no blob, job or message behind, and
// an accepted one leaves exactly one of each.
func FuzzUpload(f *testing.F) {
	form := func(parts ...[2]string) string {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		mw.SetBoundary("BOUNDARY")
		for _, p := range parts {
			if p[0] == "" {
				mw.WriteField("note", p[1])
				continue
			}
			w, _ := mw.CreateFormFile("file", p[0])
			w.Write([]byte(p[1]))
		}
		mw.Close()
		return b.String()
	}
	f.Add(form([2]string{"a.mp4", "video"}), "BOUNDARY")
	f.Add(form(), "BOUNDARY")
	f.Add(form([2]string{"a.mp4", "x"}, [2]string{"b.mp4", "y"}), "BOUNDARY")
	f.Add(form([2]string{"", "just a field"}, [2]string{"a\r\n.mp4", strings.Repeat("z", 3000)}), "BOUNDARY")
	f.Add("--BOUNDARY\r\nContent-Disposition: form-data; name=\"file\"; filename*=UTF-8''%E2%98%80\r\n\r\nx\r\n--BOUNDARY--\r\n", "BOUNDARY")
	f.Add("--BOUNDARY\r\nCont", "BOUNDARY")
	f.Add("garbage", "")
	f.Fuzz(func(t *testing.T, body, boundary string) {
		videos := memory.NewBlobs()
		jobs := &memJobs{jobs: map[string]*mp3converter.Job{}}
		q := &memory.Queue{}
		g := &Gateway{Tokens: anyToken{}, Jobs: jobs, Videos: videos, MP3s: memory.NewBlobs(), Queue: q,
			VideoQueue: "video", MaxUpload: 4096, Logger: slog.New(slog.DiscardHandler)}
		r := httptest.NewRequest("POST", "/upload", strings.NewReader(body))
		r.Header.Set("Authorization", "Bearer x")
		r.Header.Set("Content-Type", fmt.Sprintf("multipart/form-data; boundary=%q", boundary))
		w := httptest.NewRecorder()
		g.Handler().ServeHTTP(w, r)
		switch {
		case w.Code >= 500:
			t.Fatalf("status %d for %q: %s", w.Code, body, w.Body)
		case w.Code == http.StatusAccepted:
			if videos.Len() != 1 || len(jobs.jobs) != 1 || len(q.Published()) != 1 {
				t.Fatalf("accepted, but %d blobs, %d jobs, %d messages", videos.Len(), len(jobs.jobs), len(q.Published()))
			}
		default:
			if videos.Len() != 0 || len(jobs.jobs) != 0 || len(q.Published()) != 0 {
				t.Fatalf("refused with %d, but left %d blobs, %d jobs, %d messages", w.Code, videos.Len(), len(jobs.jobs), len(q.Published()))
			}
			if w.Code < 400 {
				t.Fatalf("status %d", w.Code)
			}
		}
	})
}
