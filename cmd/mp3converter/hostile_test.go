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

// TestAdminRights: an admin reads every job's record, as the docs say, but
// neither downloads nor deletes another user's files.
func TestAdminRights(t *testing.T) {
	srv := startServe(t, testConfig(t))
	srv.addUser(t, "ann@example.com", "ann-password", false)
	srv.addUser(t, "root@example.com", "root-password", true)
	ann := login(t, srv.URL, "ann@example.com", "ann-password")
	root := login(t, srv.URL, "root@example.com", "root-password")
	j := ann.waitJob(ann.upload(testmedia.Make(t, testmedia.MKV, 1), "a.mkv").JobID, time.Minute)
	if j.Status != "done" {
		t.Fatalf("job %s", j.Status)
	}
	if _, code := root.job(j.ID); code != 200 {
		t.Errorf("an admin reading another user's job: %d, want 200", code)
	}
	if all := root.jobs("?all=true"); len(all) != 1 {
		t.Errorf("an admin's ?all=true lists %d jobs, want 1", len(all))
	}
	if resp, _ := do(t, root.request("GET", "/download?fid="+*j.MP3FID, nil)); resp.StatusCode != 404 {
		t.Errorf("an admin downloading another user's MP3: %d, want 404", resp.StatusCode)
	}
	if resp, _ := do(t, root.request("DELETE", "/jobs/"+j.ID, nil)); resp.StatusCode != 404 {
		t.Errorf("an admin deleting another user's job: %d, want 404", resp.StatusCode)
	}
	if got, code := ann.job(j.ID); code != 200 || got.Status != "done" {
		t.Errorf("the owner's job after the admin's tries: %d %s", code, got.Status)
	}
}

// TestOneAccountPerPerson: look-alike spellings of an email reach the one
// account (full-width forms, the Kelvin sign, case), confusables from other
// scripts are refused, and bcrypt's 72-byte limit cannot be used to log in
// with a suffix.
func TestOneAccountPerPerson(t *testing.T) {
	srv := startServe(t, testConfig(t))
	srv.addUser(t, "kelvin@example.com", "kelvin-password", false)
	for _, email := range []string{"kelvin@example.com", "\u212Aelvin@example.com", "ｋｅｌｖｉｎ@ｅｘａｍｐｌｅ.ｃｏｍ", "KELVIN@Example.COM"} {
		if resp := tryLogin(t, srv.URL, email, "kelvin-password", ""); resp.StatusCode != 200 {
			t.Errorf("login as %q: %d, want 200 (the same account)", email, resp.StatusCode)
		}
	}
	if resp := tryLogin(t, srv.URL, "k\u0435lvin@example.com", "kelvin-password", ""); resp.StatusCode != 401 {
		t.Errorf("login with a Cyrillic look-alike: %d, want 401", resp.StatusCode)
	}
	long := strings.Repeat("x", 72)
	srv.addUser(t, "long@example.com", long, false)
	if resp := tryLogin(t, srv.URL, "long@example.com", long+"-any-suffix", ""); resp.StatusCode != 401 {
		t.Errorf("a 72-byte password with a suffix: %d, want 401", resp.StatusCode)
	}
	if resp := tryLogin(t, srv.URL, "long@example.com", long, ""); resp.StatusCode != 200 {
		t.Errorf("the 72-byte password: %d, want 200", resp.StatusCode)
	}
}

// TestDeletedAccount: deleting an account deletes its jobs and files and
// revokes its tokens; a new account with the same email (any case) starts
// with nothing and the old token stays refused.
func TestDeletedAccount(t *testing.T) {
	cfg := testConfig(t)
	srv := startServe(t, cfg)
	add := func(email string) {
		t.Helper()
		if code, _, errs := runCmd(t, "ann-password\n", "user", "add", "--data-dir", cfg.DataDir, "--email", email, "--password-stdin"); code != 0 {
			t.Fatalf("user add %s: %s", email, errs)
		}
	}
	add("ann@example.com")
	old := login(t, srv.URL, "ann@example.com", "ann-password")
	j := old.waitJob(old.upload(testmedia.Make(t, testmedia.MKV, 1), "a.mkv").JobID, time.Minute)
	if j.Status != "done" {
		t.Fatalf("job %s", j.Status)
	}
	code, out, errs := runCmd(t, "", "user", "delete", "--data-dir", cfg.DataDir, "--email", "ann@example.com")
	if code != 0 || !strings.Contains(out, "1 jobs") {
		t.Fatalf("user delete: %d %q %q", code, out, errs)
	}
	if n := countFiles(t, cfg.DataDir, "mp3s") + countFiles(t, cfg.DataDir, "videos"); n != 0 {
		t.Errorf("%d files of the deleted account are left", n)
	}
	add("ANN@Example.com")
	for _, path := range []string{"/jobs", "/jobs/" + j.ID, "/download?fid=" + *j.MP3FID} {
		if resp, _ := do(t, old.request("GET", path, nil)); resp.StatusCode != 401 {
			t.Errorf("the deleted account's token on %s: %d, want 401", path, resp.StatusCode)
		}
	}
	fresh := login(t, srv.URL, "ann@example.com", "ann-password")
	if jobs := fresh.jobs(""); len(jobs) != 0 {
		t.Errorf("the new account sees %d jobs of the old one", len(jobs))
	}
	if resp, _ := do(t, fresh.request("GET", "/download?fid="+*j.MP3FID, nil)); resp.StatusCode != 404 {
		t.Errorf("the new account downloading the old MP3: %d, want 404", resp.StatusCode)
	}
}
