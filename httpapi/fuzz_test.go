package httpapi

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/auth"
)

// Hand-written fakes, just enough for the upload route.

type memBlobs struct {
	mu    sync.Mutex
	blobs map[string][]byte
}

func (m *memBlobs) Put(_ context.Context, id string, r io.Reader) (int64, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.blobs[id]; ok {
		return 0, mp3converter.ErrConflict
	}
	m.blobs[id] = b
	return int64(len(b)), nil
}

func (m *memBlobs) Get(_ context.Context, id string) (io.ReadCloser, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.blobs[id]
	if !ok {
		return nil, mp3converter.ErrNotFound
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func (m *memBlobs) Delete(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.blobs[id]; !ok {
		return mp3converter.ErrNotFound
	}
	delete(m.blobs, id)
	return nil
}

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

type memQueue struct{ msgs [][]byte }

func (q *memQueue) Publish(_ context.Context, _ string, b []byte) error {
	q.msgs = append(q.msgs, b)
	return nil
}
func (q *memQueue) Consume(context.Context, string, mp3converter.Handler) error { return nil }

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
		videos := &memBlobs{blobs: map[string][]byte{}}
		jobs := &memJobs{jobs: map[string]*mp3converter.Job{}}
		q := &memQueue{}
		g := &Gateway{Tokens: anyToken{}, Jobs: jobs, Videos: videos, MP3s: &memBlobs{blobs: map[string][]byte{}}, Queue: q,
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
			if len(videos.blobs) != 1 || len(jobs.jobs) != 1 || len(q.msgs) != 1 {
				t.Fatalf("accepted, but %d blobs, %d jobs, %d messages", len(videos.blobs), len(jobs.jobs), len(q.msgs))
			}
		default:
			if len(videos.blobs) != 0 || len(jobs.jobs) != 0 || len(q.msgs) != 0 {
				t.Fatalf("refused with %d, but left %d blobs, %d jobs, %d messages", w.Code, len(videos.blobs), len(jobs.jobs), len(q.msgs))
			}
			if w.Code < 400 {
				t.Fatalf("status %d", w.Code)
			}
		}
	})
}
