package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/internal/memory"
)

// limitsGateway is a gateway on fakes, for the tests of its limits.
func limitsGateway(videos mp3converter.BlobStore) (*Gateway, *memJobs) {
	jobs := &memJobs{jobs: map[string]*mp3converter.Job{}}
	return &Gateway{Tokens: anyToken{}, Jobs: jobs, Videos: videos, MP3s: memory.NewBlobs(), Queue: &memory.Queue{},
		VideoQueue: "video", MaxUpload: 1 << 20, Logger: slog.New(slog.DiscardHandler)}, jobs
}

// uploadRequest is a one-file multipart upload of content.
func uploadRequest(t *testing.T, url string, content []byte) *http.Request {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	part, _ := mw.CreateFormFile("file", "a.mp4")
	part.Write(content)
	mw.Close()
	req, err := http.NewRequest("POST", url+"/upload", &body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer x")
	return req
}

// An upload that averages less than the minimum rate once the grace
// period is over is cut with 408, and nothing of it is kept; one at a
// good pace is not.
func TestSlowUploadIsCut(t *testing.T) {
	videos := memory.NewBlobs()
	g, jobs := limitsGateway(videos)
	g.MinUploadRate, g.UploadGrace, g.IdleTimeout = 1<<10, 500*time.Millisecond, 10*time.Second
	srv := httptest.NewServer(g.Handler())
	defer srv.Close()

	resp, err := http.DefaultClient.Do(uploadRequest(t, srv.URL, bytes.Repeat([]byte("v"), 256<<10)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("a fast upload: %s", resp.Status)
	}

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /upload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer x\r\n"+
		"Content-Type: multipart/form-data; boundary=B\r\nContent-Length: 100000\r\n\r\n"+
		"--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.mp4\"\r\n\r\n")
	start := time.Now()
	go func() { // 20 bytes a second, until the server hangs up
		for {
			time.Sleep(50 * time.Millisecond)
			if _, err := conn.Write([]byte("v")); err != nil {
				return
			}
		}
	}()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	cut, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(cut.Body)
	d := time.Since(start)
	if cut.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(body), "too slow") {
		t.Errorf("a slow upload: %s %q, want 408 too slow", cut.Status, body)
	}
	if d < g.UploadGrace || d > g.UploadGrace+2*time.Second {
		t.Errorf("a slow upload was cut after %v, want just after the %v grace", d, g.UploadGrace)
	}
	if videos.Len() != 1 || len(jobs.jobs) != 1 {
		t.Errorf("the slow upload left %d blobs and %d jobs besides the fast one's", videos.Len()-1, len(jobs.jobs)-1)
	}
}

func TestUploadLimit(t *testing.T) {
	l := NewUploadLimit(2, 3, nil)
	steps := []struct {
		user string
		ok   bool
	}{{"ann", true}, {"ann", true}, {"ann", false}, {"bob", true}, {"bob", false}, {"cy", false}}
	var releases []func()
	for i, s := range steps {
		release, _, err := l.acquire(context.Background(), s.user)
		if (err == nil) != s.ok {
			t.Fatalf("step %d: %s: %v, want ok %v", i, s.user, err, s.ok)
		}
		if err == nil {
			releases = append(releases, release)
		}
	}
	releases[0]() // one of ann's ends
	releases[0]() // and a second call changes nothing
	if _, _, err := l.acquire(context.Background(), "bob"); err != nil {
		t.Errorf("bob after ann's upload ended: %v", err)
	}
	if _, _, err := l.acquire(context.Background(), "cy"); err == nil {
		t.Errorf("cy got a fourth upload with a total of 3")
	}
	var none *InUseLimit
	if _, _, err := none.acquire(context.Background(), "ann"); err != nil {
		t.Errorf("a nil limit refused: %v", err)
	}
}

// fullBlobs is a video store whose disk is full: it reads part of the
// upload, then fails as localfs does.
type fullBlobs struct{ *memory.Blobs }

func (f *fullBlobs) Put(_ context.Context, id string, r io.Reader) (int64, error) {
	io.CopyN(io.Discard, r, 4096)
	return 0, fmt.Errorf("localfs put %s: %w: %w", id, mp3converter.ErrInsufficientStorage, syscall.ENOSPC)
}

// An upload that cannot be stored for lack of space gets 507 with
// Retry-After and a message saying so, whether the store runs out while
// writing or the gateway sees the disk below its floor before reading.
func TestOutOfSpaceIs507(t *testing.T) {
	for _, tc := range []struct {
		name   string
		videos mp3converter.BlobStore
		space  func(context.Context) error
	}{
		{"store full", &fullBlobs{memory.NewBlobs()}, nil},
		{"below the floor", memory.NewBlobs(), func(context.Context) error {
			return fmt.Errorf("/data has 1 MiB free: %w", mp3converter.ErrInsufficientStorage)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, jobs := limitsGateway(tc.videos)
			g.Space = tc.space
			srv := httptest.NewServer(g.Handler())
			defer srv.Close()
			resp, err := http.DefaultClient.Do(uploadRequest(t, srv.URL, bytes.Repeat([]byte("v"), 64<<10)))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusInsufficientStorage || resp.Header.Get("Retry-After") != "60" ||
				strings.TrimSpace(string(body)) != mp3converter.ErrInsufficientStorage.Message {
				t.Errorf("got %s, Retry-After %q, %q", resp.Status, resp.Header.Get("Retry-After"), body)
			}
			if len(jobs.jobs) != 0 {
				t.Errorf("%d jobs left", len(jobs.jobs))
			}
		})
	}
}
