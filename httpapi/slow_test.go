package httpapi

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/internal/memory"
)

// A client that stops sending in the middle of an upload is cut off after
// the idle timeout, and nothing of its upload is kept.
func TestStalledUploadIsCut(t *testing.T) {
	videos := memory.NewBlobs()
	jobs := &memJobs{jobs: map[string]*mp3converter.Job{}}
	g := &Gateway{Tokens: anyToken{}, Jobs: jobs, Videos: videos, MP3s: memory.NewBlobs(), Queue: &memory.Queue{},
		VideoQueue: "video", MaxUpload: 1 << 20, IdleTimeout: 300 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)}
	srv := httptest.NewServer(g.Handler())
	defer srv.Close()

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.mp4\"\r\n\r\nthe first bytes of a video"
	fmt.Fprintf(conn, "POST /upload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer x\r\n"+
		"Content-Type: multipart/form-data; boundary=B\r\nContent-Length: 100000\r\n\r\n%s", body)
	start := time.Now()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	io.ReadAll(conn) // returns when the server gives up on us
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the stalled upload held its connection for %v", d)
	}
	if videos.Len() != 0 || len(jobs.jobs) != 0 {
		t.Errorf("a stalled upload left %d blobs and %d jobs", videos.Len(), len(jobs.jobs))
	}
}
