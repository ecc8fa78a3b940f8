package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vbauerster/mpb/v8/decor"

	"github.com/mp3converter/mp3converter/client"
)

func TestWaitReasons(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	queued := []client.Job{
		{ID: "c", CreatedAt: at.Add(2 * time.Second)},
		{ID: "b2", CreatedAt: at.Add(time.Second)},
		{ID: "b1", CreatedAt: at.Add(time.Second)},
		{ID: "a", CreatedAt: at},
	}
	got := waitReasons(map[int]string{0: "a", 1: "b2", 2: "c", 3: "gone"}, queued, 1)
	want := map[int]string{0: "1 of your jobs ahead", 1: "3 of your jobs ahead", 2: "4 of your jobs ahead"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("with one converting: %v, want %v", got, want)
	}
	if got := waitReasons(map[int]string{5: "a"}, queued, 0); got[5] != "waiting for a converter" {
		t.Errorf("first in line: %q", got[5])
	}
}

// TestConvertQueued: while the job is queued, convert says how many of
// the user's jobs are ahead of it, from GET /jobs?status=queued and
// ?status=processing; the job stays queued until convert has asked twice.
func TestConvertQueued(t *testing.T) {
	const id, fid = "6b08de244648dd0d773a1f61", "6b08de244648dd0d773a1f62"
	at := time.Now().UTC().Truncate(time.Second)
	job := func(id, status string, created time.Time) string {
		return fmt.Sprintf(`{"id":%q,"status":%q,"created_at":%q,"updated_at":%q}`, id, status, created.Format(time.RFC3339), time.Now().UTC().Format(time.RFC3339Nano))
	}
	release := make(chan struct{})
	var once sync.Once
	var asked int
	var mu sync.Mutex
	mux := http.NewServeMux()
	mux.HandleFunc("POST /upload", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, `{"job_id":"`+id+`","video_fid":"v","status":"queued"}`)
	})
	mux.HandleFunc("GET /jobs/events", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "id: 1\nevent: job\ndata: "+job(id, "queued", at)+"\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		done := fmt.Sprintf(`{"id":%q,"status":"done","mp3_fid":%q,"progress":1,"updated_at":%q}`, id, fid, time.Now().UTC().Add(time.Second).Format(time.RFC3339Nano))
		io.WriteString(w, "id: 2\nevent: job\ndata: "+done+"\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	mux.HandleFunc("GET /jobs", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("status") {
		case "queued":
			io.WriteString(w, "["+job("newer", "queued", at.Add(time.Second))+","+job(id, "queued", at)+","+job("older", "queued", at.Add(-time.Second))+"]")
		case "processing":
			io.WriteString(w, "["+job("busy", "processing", at.Add(-time.Minute))+"]")
			mu.Lock()
			asked++
			if asked == 2 {
				once.Do(func() { close(release) })
			}
			mu.Unlock()
		default:
			http.Error(w, "want a status", http.StatusBadRequest)
		}
	})
	mux.HandleFunc("GET /download", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ID3 an MP3") })
	srv := httptest.NewServer(mux)
	defer srv.Close()

	dir := t.TempDir()
	video := filepath.Join(dir, "clip.mkv")
	if err := os.WriteFile(video, []byte("a video"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := RunConvert(ctx, []string{"--server", srv.URL, "--token", "tok", "-o", dir, video}, &out, &out); err != nil {
		t.Fatalf("convert: %v\n%s", err, out.String())
	}
	t.Logf("convert:\n%s", out.String())
	if want := "uploaded clip.mkv (7 B)\nclip.mkv: queued: 2 of your jobs ahead\nclip.mkv: done -> clip.mp3\n"; out.String() != want {
		t.Errorf("convert said\n%s\nwant\n%s", out.String(), want)
	}
}

// TestBarViewWaiting: the bar of a queued job shows why it waits, until
// it converts.
func TestBarViewWaiting(t *testing.T) {
	v := newBarView(context.Background(), io.Discard, 80, []*fileState{{name: "clip.mkv", size: 1000}})
	defer v.close()
	right := v.text(v.files[0], false)
	v.uploading(0)(1000)
	v.uploaded(0)
	if got := right(decor.Statistics{}); !strings.HasPrefix(got, "uploaded 1.0 KB at ") {
		t.Errorf("queued: %q", got)
	}
	v.waiting(0, "2 of your jobs ahead")
	if got := right(decor.Statistics{}); got != "2 of your jobs ahead" {
		t.Errorf("waiting: %q", got)
	}
	v.progress(0, client.Job{Status: client.StatusProcessing, Progress: 0.5})
	v.waiting(0, "1 of your jobs ahead") // asked before it started
	if got := right(decor.Statistics{}); got != "50%" {
		t.Errorf("converting: %q", got)
	}
}
