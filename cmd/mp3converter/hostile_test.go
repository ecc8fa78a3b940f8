package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter/internal/testmedia"
)

// TestHostileRequests: through HTTP against serve, a flood of byte ranges
// gets the file once, failed logins are logged without the password, a
// forged request id is replaced, and the database of password hashes is
// readable by its owner only.
func TestHostileRequests(t *testing.T) {
	cfg := testConfig(t)
	srv := startServe(t, cfg)
	srv.addUser(t, "ann@example.com", "ann-password", false)
	c := login(t, srv.URL, "ann@example.com", "ann-password")
	j := c.waitJob(c.upload(testmedia.Make(t, testmedia.MKV, 2), "a.mkv").JobID, time.Minute)
	if j.Status != "done" {
		t.Fatalf("job %s", j.Status)
	}
	_, whole := do(t, c.request("GET", "/download?fid="+*j.MP3FID, nil))
	size := int64(len(whole))
	var ranges []string
	for i := range 2000 {
		ranges = append(ranges, strconv.Itoa(i)+"-"+strconv.Itoa(i))
	}
	req := c.request("GET", "/download?fid="+*j.MP3FID, nil)
	req.Header.Set("Range", "bytes="+strings.Join(ranges, ","))
	resp, body := do(t, req)
	if resp.StatusCode != 200 || int64(len(body)) != size {
		t.Errorf("2000 ranges of a %d-byte MP3: %d with %d bytes, want 200 with the file once", size, resp.StatusCode, len(body))
	}
	req = c.request("GET", "/download?fid="+*j.MP3FID, nil)
	req.Header.Set("Range", "bytes=0-9,20-29")
	if resp, _ := do(t, req); resp.StatusCode != http.StatusPartialContent {
		t.Errorf("two ranges: %d, want 206", resp.StatusCode)
	}

	tryLogin(t, srv.URL, "ann@example.com", "a-wrong-password", "198.51.100.9")
	logs := srv.logs.String()
	if !strings.Contains(logs, "msg=LoginFailed") || !strings.Contains(logs, "account=ann@example.com") || !strings.Contains(logs, "client=198.51.100.9") {
		t.Errorf("a failed login was not logged with its account and client")
	}
	if strings.Contains(logs, "a-wrong-password") {
		t.Errorf("a password reached the log")
	}

	req = c.request("GET", "/jobs", nil)
	req.Header.Set("X-Request-ID", `x" msg=forged level=ERROR`)
	if resp, _ := do(t, req); strings.Contains(resp.Header.Get("X-Request-ID"), "forged") || strings.Contains(srv.logs.String(), "msg=forged") {
		t.Errorf("a forged request id was kept: %q", resp.Header.Get("X-Request-ID"))
	}

	for _, name := range []string{"mp3converter.db", "mp3converter.db-wal"} {
		fi, err := os.Stat(filepath.Join(cfg.DataDir, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
		} else if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s: mode %v; want readable by its owner only", name, fi.Mode())
		}
	}
}
