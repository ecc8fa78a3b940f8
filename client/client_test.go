package client

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestUpload: the form carries the options, then the file under its
// name, with an exact Content-Length, progress ends at the file's size,
// and a refusal is an *APIError with the server's message.
func TestUpload(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > 1000 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			io.WriteString(w, `{"error":"the file is larger than the 1 KB limit"}`)
			return
		}
		// The options come before the file, as the server wants them.
		mr, err := r.MultipartReader()
		if err != nil || r.ContentLength < 0 {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		var id []string
		for {
			p, err := mr.NextPart()
			if err != nil {
				break
			}
			b, _ := io.ReadAll(p)
			if p.FileName() != "" {
				id = append(id, p.FileName()+"-"+string(b))
			} else {
				id = append(id, p.FormName()+"="+string(b))
			}
		}
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, `{"job_id":"`+strings.Join(id, ",")+`","status":"queued"}`)
	}))
	defer srv.Close()
	c := New(srv.URL+"/", "tok")
	path := filepath.Join(t.TempDir(), "a b.mkv")
	os.WriteFile(path, []byte("video"), 0o644)
	var last int64
	a, err := c.UploadFile(context.Background(), path, nil, func(n int64) { last = n })
	if err != nil || a.JobID != "a b.mkv-video" || last != 5 {
		t.Errorf("upload: %+v %v, progress %d", a, err, last)
	}
	a, err = c.UploadFile(context.Background(), path, url.Values{"channels": {"mono"}, "bitrate": {"128"}}, func(n int64) { last = n })
	if err != nil || a.JobID != "bitrate=128,channels=mono,a b.mkv-video" || last != 5 {
		t.Errorf("upload: %+v %v, progress %d", a, err, last)
	}
	_, err = c.Upload(context.Background(), "big.mkv", strings.NewReader(strings.Repeat("x", 2000)), 2000, nil, nil)
	if !IsStatus(err, http.StatusRequestEntityTooLarge) || !strings.HasSuffix(err.Error(), ": the file is larger than the 1 KB limit") {
		t.Errorf("too large: %v", err)
	}
}

// TestCredentials: saved for the user alone, and read back.
func TestCredentials(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cfg", "mp3converter", "token.json")
	want := Credentials{Server: "http://x", Email: "ann@example.com", Token: "a.eyJleHAiOjE3MDAwMDAwMDB9.c"}
	if err := SaveCredentials(path, want); err != nil {
		t.Fatal(err)
	}
	if err := SaveCredentials(path, want); err != nil { // replaces it
		t.Fatal(err)
	}
	for p, mode := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700} {
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != mode {
			t.Errorf("%s: %v %v, want %v", p, st.Mode(), err, mode)
		}
	}
	got, err := LoadCredentials(path)
	if err != nil || got != want {
		t.Errorf("loaded %+v %v", got, err)
	}
	if exp, ok := TokenExpiry(got.Token); !ok || exp.Unix() != 1700000000 {
		t.Errorf("expiry %v %v", exp, ok)
	}
	if _, err := LoadCredentials(path + ".none"); !IsNotExist(err) {
		t.Errorf("missing file: %v", err)
	}
}
