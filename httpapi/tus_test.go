package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/auth"
	"github.com/mp3converter/mp3converter/internal/memory"
)

// userToken takes the token as the username: "Bearer ann" is ann.
type userToken struct{}

func (userToken) Verify(_ context.Context, token string) (*auth.Claims, error) {
	return &auth.Claims{Username: token + "@example.com"}, nil
}

// tusGateway is a gateway on fakes with /files/ in a temporary directory.
func tusGateway(t *testing.T) (*Gateway, *memJobs, *httptest.Server) {
	t.Helper()
	g, jobs := limitsGateway(memory.NewBlobs())
	g.Tokens, g.ResumableDir = userToken{}, t.TempDir()
	srv := httptest.NewServer(g.Handler())
	t.Cleanup(srv.Close)
	return g, jobs, srv
}

func tusDo(t *testing.T, method, url, user string, body []byte, hdr ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Authorization", "Bearer "+user)
	if body != nil {
		req.Header.Set("Content-Type", "application/offset+octet-stream")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func tusMeta(kv ...string) string {
	var parts []string
	for i := 0; i+1 < len(kv); i += 2 {
		parts = append(parts, kv[i]+" "+base64.StdEncoding.EncodeToString([]byte(kv[i+1])))
	}
	return strings.Join(parts, ",")
}

// tusCreate creates an upload of size bytes for user and returns its URL.
func tusCreate(t *testing.T, srv *httptest.Server, user string, size int, meta string) string {
	t.Helper()
	resp := tusDo(t, "POST", srv.URL+"/files/", user, nil, "Upload-Length", strconv.Itoa(size), "Upload-Metadata", meta)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %s", resp.Status)
	}
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, "/files/") || resp.Header.Get("Upload-Expires") == "" {
		t.Fatalf("create: Location %q, Upload-Expires %q", loc, resp.Header.Get("Upload-Expires"))
	}
	return srv.URL + loc
}

// Another user's HEAD, PATCH, GET and DELETE on an upload get 404, as an
// unknown one does; its owner's go on and finish it into a job, which the
// last PATCH, HEAD and GET name.
func TestTusOwnerOnly(t *testing.T) {
	_, jobs, srv := tusGateway(t)
	url := tusCreate(t, srv, "ann", 10, tusMeta("filename", "a.mp4", "bitrate", "128"))
	if r := tusDo(t, "PATCH", url, "ann", []byte("01234"), "Upload-Offset", "0"); r.StatusCode != 204 || r.Header.Get("Upload-Offset") != "5" {
		t.Fatalf("PATCH: %s, offset %q", r.Status, r.Header.Get("Upload-Offset"))
	}
	for _, m := range []string{"HEAD", "GET", "PATCH", "DELETE"} {
		var body []byte
		if m == "PATCH" {
			body = []byte("56789")
		}
		if r := tusDo(t, m, url, "bob", body, "Upload-Offset", "5"); r.StatusCode != http.StatusNotFound {
			t.Errorf("bob's %s: %s, want 404", m, r.Status)
		}
	}
	if r := tusDo(t, "HEAD", srv.URL+"/files/0123456789abcdef0123456789abcdef", "ann", nil); r.StatusCode != http.StatusNotFound {
		t.Errorf("HEAD of no upload: %s", r.Status)
	}
	if r := tusDo(t, "HEAD", url, "ann", nil); r.Header.Get("Upload-Offset") != "5" {
		t.Fatalf("ann's HEAD: %s, offset %q", r.Status, r.Header.Get("Upload-Offset"))
	}
	r := tusDo(t, "PATCH", url, "ann", []byte("56789"), "Upload-Offset", "5")
	id := r.Header.Get(JobHeader)
	if r.StatusCode != 204 || !mp3converter.ValidID(id) {
		t.Fatalf("last PATCH: %s, job %q", r.Status, id)
	}
	job := jobs.jobs[id]
	if job == nil {
		t.Fatalf("no job %s", id)
	}
	if job.Owner != "ann@example.com" || job.Filename != "a.mp4" || job.Size != 10 || job.Options.Bitrate != 128 {
		t.Fatalf("job %+v", job)
	}
	for _, m := range []string{"HEAD", "GET"} {
		if r := tusDo(t, m, url, "ann", nil); r.StatusCode != 200 || r.Header.Get(JobHeader) != id || m == "HEAD" && r.Header.Get("Upload-Offset") != "10" {
			t.Errorf("%s after the end: %s, job %q", m, r.Status, r.Header.Get(JobHeader))
		}
	}
	if r := tusDo(t, "HEAD", url, "bob", nil); r.StatusCode != 404 {
		t.Errorf("bob's HEAD of a finished upload: %s", r.Status)
	}
}

// The limits of /upload at creation: an Upload-Length past --max-upload is
// 413, a bad option 400 naming it, no length 400, and past the cap on
// unfinished uploads 429.
func TestTusCreateLimits(t *testing.T) {
	g, _, srv := tusGateway(t)
	g.MaxUnfinished = 2
	for _, c := range []struct {
		length, meta string
		want         int
	}{
		{strconv.FormatInt(g.MaxUpload+1, 10), "", 413},
		{"", "", 400},
		{"-1", "", 400},
		{"10", tusMeta("bitrate", "100"), 400},
		{"10", tusMeta("quality", "V0", "bitrate", "128"), 400},
	} {
		r := tusDo(t, "POST", srv.URL+"/files/", "ann", nil, "Upload-Length", c.length, "Upload-Metadata", c.meta)
		if r.StatusCode != c.want {
			t.Errorf("Upload-Length %q, metadata %q: %s, want %d", c.length, c.meta, r.Status, c.want)
		}
	}
	tusCreate(t, srv, "ann", 10, "")
	tusCreate(t, srv, "ann", 10, "")
	if r := tusDo(t, "POST", srv.URL+"/files/", "ann", nil, "Upload-Length", "10"); r.StatusCode != 429 {
		t.Errorf("a third unfinished upload: %s, want 429", r.Status)
	}
	tusCreate(t, srv, "bob", 10, "") // bob's count is his own
	// Without a cookie's CSRF header, a cookie is refused.
	req, _ := http.NewRequest("POST", srv.URL+"/files/", nil)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Length", "10")
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: "ann"})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("a cookie without X-CSRF: %s, want 403", resp.Status)
	}
}

// An upload past its expiry is not found, and the sweep removes its parts
// and record from disk; one not yet expired stays.
func TestTusExpiry(t *testing.T) {
	g, _, srv := tusGateway(t)
	g.UploadExpiry = time.Hour
	old := tusCreate(t, srv, "ann", 10, "")
	tusDo(t, "PATCH", old, "ann", []byte("012"), "Upload-Offset", "0")
	tus, _ := g.tusServer()
	tus.now = func() time.Time { return time.Now().Add(30 * time.Minute) }
	fresh := tusCreate(t, srv, "ann", 10, "")
	tus.now = func() time.Time { return time.Now().Add(61 * time.Minute) }
	if r := tusDo(t, "HEAD", old, "ann", nil); r.StatusCode != 404 {
		t.Errorf("HEAD of an expired upload: %s", r.Status)
	}
	n, err := g.SweepUploads(context.Background())
	if err != nil || n != 1 {
		t.Fatalf("swept %d, %v", n, err)
	}
	id := old[strings.LastIndex(old, "/")+1:]
	for _, p := range []string{id, id + ".info"} {
		if _, err := os.Stat(filepath.Join(g.ResumableDir, p)); !os.IsNotExist(err) {
			t.Errorf("%s is still on disk: %v", p, err)
		}
	}
	if r := tusDo(t, "HEAD", fresh, "ann", nil); r.StatusCode != 200 || r.Header.Get("Upload-Offset") != "0" {
		t.Errorf("HEAD of an upload not expired: %s", r.Status)
	}
}

// A PATCH that dribbles its body is cut with 408 once the grace has passed
// below the minimum rate, as an /upload is; what arrived is kept, and the
// upload resumes from HEAD's offset.
func TestTusSlowPatchIsCut(t *testing.T) {
	g, _, srv := tusGateway(t)
	g.MinUploadRate, g.UploadGrace, g.IdleTimeout = 1<<10, 500*time.Millisecond, 10*time.Second
	url := tusCreate(t, srv, "ann", 100000, "")
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "PATCH %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ann\r\nTus-Resumable: 1.0.0\r\n"+
		"Upload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: 100000\r\n\r\n",
		url[strings.Index(url, "/files/"):])
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
	if d := time.Since(start); cut.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(body), "too slow") || d > g.UploadGrace+2*time.Second {
		t.Errorf("a slow PATCH: %s %q after %v, want 408 too slow just after %v", cut.Status, body, d, g.UploadGrace)
	}
	r := tusDo(t, "HEAD", url, "ann", nil)
	if n, _ := strconv.Atoi(r.Header.Get("Upload-Offset")); n <= 0 || n > 100 {
		t.Errorf("after the cut, Upload-Offset %q: want the few bytes that arrived", r.Header.Get("Upload-Offset"))
	}
}

// When the job cannot be made as the last byte lands (the queue refuses
// the message), that PATCH fails and keeps nothing half-done; the next
// HEAD makes the job, once, and names it.
func TestTusFinishRetried(t *testing.T) {
	g, jobs, srv := tusGateway(t)
	url := tusCreate(t, srv, "ann", 10, tusMeta("filename", "a.mp4"))
	g.Queue.(*memory.Queue).FailPublish(1)
	r := tusDo(t, "PATCH", url, "ann", []byte("0123456789"), "Upload-Offset", "0")
	if r.StatusCode != http.StatusInternalServerError || r.Header.Get(JobHeader) != "" || len(jobs.jobs) != 0 {
		t.Fatalf("the last PATCH, the queue refusing: %s, job %q, %d jobs", r.Status, r.Header.Get(JobHeader), len(jobs.jobs))
	}
	r = tusDo(t, "HEAD", url, "ann", nil)
	id := r.Header.Get(JobHeader)
	if r.StatusCode != 200 || jobs.jobs[id] == nil || len(jobs.jobs) != 1 || g.Videos.(*memory.Blobs).Len() != 1 {
		t.Fatalf("HEAD after: %s, job %q; %d jobs, %d videos", r.Status, id, len(jobs.jobs), g.Videos.(*memory.Blobs).Len())
	}
	if r := tusDo(t, "HEAD", url, "ann", nil); r.Header.Get(JobHeader) != id || len(jobs.jobs) != 1 {
		t.Errorf("a second HEAD: job %q, %d jobs", r.Header.Get(JobHeader), len(jobs.jobs))
	}
}
