package cli

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeServer answers an upload with job id, whose MP3 is ready at once,
// after upload has looked at the request; its event stream sends only
// refetch. reads counts GET /jobs/{id}.
func fakeServer(t *testing.T, upload func(r *http.Request), reads *atomic.Int64) string {
	const id, fid = "6b08de244648dd0d773a1f61", "6b08de244648dd0d773a1f62"
	mux := http.NewServeMux()
	mux.HandleFunc("POST /upload", func(w http.ResponseWriter, r *http.Request) {
		upload(r)
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, `{"job_id":"`+id+`","video_fid":"v","status":"queued"}`)
	})
	mux.HandleFunc("GET /jobs/events", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "id: 9-e-3\nevent: refetch\ndata: {}\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	mux.HandleFunc("GET /jobs/{id}", func(w http.ResponseWriter, r *http.Request) {
		reads.Add(1)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"`+id+`","status":"done","mp3_fid":"`+fid+`","progress":1,"updated_at":"2026-01-01T00:00:00Z"}`)
	})
	mux.HandleFunc("GET /download", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/mpeg")
		io.WriteString(w, "ID3 an MP3")
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestConvertRefetch: when the event stream says "refetch" (it skipped
// changes), convert reads the job it follows with GET /jobs/{id}, and so
// finds it done although no job event ever comes.
func TestConvertRefetch(t *testing.T) {
	var reads atomic.Int64
	url := fakeServer(t, func(*http.Request) {}, &reads)
	dir := t.TempDir()
	video := filepath.Join(dir, "clip.mkv")
	if err := os.WriteFile(video, []byte("a video"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out bytes.Buffer
	err := RunConvert(ctx, []string{"--server", url, "--token", "tok", "-o", dir, video}, &out, &out)
	if err != nil {
		t.Fatalf("convert: %v\n%s", err, out.String())
	}
	if b, err := os.ReadFile(filepath.Join(dir, "clip.mp3")); err != nil || string(b) != "ID3 an MP3" {
		t.Errorf("clip.mp3: %q, %v", b, err)
	}
	if n := reads.Load(); n != 1 {
		t.Errorf("GET /jobs/{id} %d times, want once, after the refetch", n)
	}
}

// TestConvertOptions: the options given reach the server as its form
// fields, before the file, under the API's names.
func TestConvertOptions(t *testing.T) {
	var reads atomic.Int64
	var parts []string
	url := fakeServer(t, func(r *http.Request) {
		mr, err := r.MultipartReader()
		if err != nil {
			t.Error(err)
			return
		}
		for {
			p, err := mr.NextPart()
			if err != nil {
				return
			}
			b, _ := io.ReadAll(p)
			if p.FileName() != "" {
				parts = append(parts, "file="+p.FileName())
			} else {
				parts = append(parts, p.FormName()+"="+string(b))
			}
		}
	}, &reads)
	dir := t.TempDir()
	video := filepath.Join(dir, "clip.mkv")
	if err := os.WriteFile(video, []byte("a video"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err := RunConvert(context.Background(), []string{"--server", url, "--token", "tok", "-o", dir,
		"--bitrate", "128", "--channels", "mono", "--sample-rate", "22050", "--normalize", video}, &out, &out)
	if err != nil {
		t.Fatalf("convert: %v\n%s", err, out.String())
	}
	if got, want := strings.Join(parts, " "), "bitrate=128 channels=mono normalize=true sample_rate=22050 file=clip.mkv"; got != want {
		t.Errorf("the form: %s, want %s", got, want)
	}
}

// TestConvertFiles: a file missing, unreadable or a directory stops
// convert before anything is sent, each named as given.
func TestConvertFiles(t *testing.T) {
	var reads atomic.Int64
	var uploads atomic.Int64
	url := fakeServer(t, func(*http.Request) { uploads.Add(1) }, &reads)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.mkv")
	locked := filepath.Join(dir, "locked.mkv")
	for _, p := range []string{good, locked} {
		if err := os.WriteFile(p, []byte("a video"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(locked, 0)
	want := []string{"missing.mp4: no such file or directory", dir + ": is a directory; name the videos in it"}
	if f, err := os.Open(locked); err == nil { // root reads it all the same
		f.Close()
	} else {
		want = append(want, locked+": permission denied")
	}
	t.Chdir(dir)
	var out bytes.Buffer
	err := RunConvert(context.Background(), []string{"--server", url, "--token", "tok", "good.mkv", "missing.mp4", dir, locked}, &out, &out)
	if err == nil || uploads.Load() != 0 {
		t.Fatalf("convert: %v, %d uploads\n%s", err, uploads.Load(), out.String())
	}
	if got := strings.Split(err.Error(), "\n"); !slices.Equal(got, want) {
		t.Errorf("convert said\n%s\nwant\n%s", err, strings.Join(want, "\n"))
	}
}
