package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/internal/diskspace"
	"github.com/mp3converter/mp3converter/internal/testmedia"
	"github.com/mp3converter/mp3converter/internal/testsupport"
)

// mountTmpfs mounts a tmpfs of size on a new temp dir, unmounted when the
// test ends (after the servers it started have stopped).
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount a tmpfs on %s: %v %s", dir, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
	return dir
}

// fill writes a file of zeros in dir until only leave bytes are free, or
// until the disk is full if leave is 0, and returns its path.
func fill(t *testing.T, dir, name string, leave int64) string {
	t.Helper()
	free, err := diskspace.Free(dir)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := free - leave
	if leave == 0 {
		n = 1 << 62
	}
	_, err = io.CopyN(f, zeros{}, n)
	if err != nil && (leave != 0 || !errors.Is(err, syscall.ENOSPC)) {
		t.Fatalf("fill %s: %v", dir, err)
	}
	return p
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// files lists the regular files under dir.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func readyz(t *testing.T, base string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/readyz", nil)
	resp, b := do(t, req)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// TestDiskFull: serve's data dir on an 8 MiB tmpfs. An upload that runs out
// of space while being written, and one refused because the disk is below
// --min-free-space, both get 507 with Retry-After and leave nothing; /readyz
// fails naming the free-space check. Once space is freed, /readyz passes and
// the same upload is accepted and converted.
func TestDiskFull(t *testing.T) {
	video := testmedia.Make(t, testmedia.MP4, 40)
	fi, err := os.Stat(video)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)
	cfg.DataDir = mountTmpfs(t, "8m")
	cfg.MinFreeSpace = 512 << 10
	srv := startServe(t, cfg)
	srv.addUser(t, "ann@example.com", "ann-password", false)
	c := login(t, srv.URL, "ann@example.com", "ann-password")
	videos := filepath.Join(cfg.DataDir, "videos")
	var rows [][]string

	// Above the floor, but with less space than the video needs.
	filler := fill(t, cfg.DataDir, "filler", int64(cfg.MinFreeSpace)+256<<10)
	resp, msg := c.uploadStatus(video, "film.mp4")
	if resp.StatusCode != http.StatusInsufficientStorage || msg != mp3converter.ErrInsufficientStorage.Message || resp.Header.Get("Retry-After") == "" {
		t.Errorf("upload of %d bytes with 768 KiB free: %s %q Retry-After %q, want 507", fi.Size(), resp.Status, msg, resp.Header.Get("Retry-After"))
	}
	if left := files(t, videos); len(left) != 0 {
		t.Errorf("the refused upload left %v", left)
	}
	rows = append(rows, []string{fmt.Sprintf("%d KiB upload with 768 KiB free (floor 512 KiB): the disk fills while writing", fi.Size()>>10),
		fmt.Sprint(resp.StatusCode, " Retry-After ", resp.Header.Get("Retry-After")), msg, fmt.Sprint(len(files(t, videos)), " files, ", len(c.jobs("")), " jobs")})

	// Below the floor: refused before the body is read, and not ready.
	filler2 := fill(t, cfg.DataDir, "filler2", 0)
	code, body := readyz(t, srv.URL)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "free-space") {
		t.Errorf("/readyz with the disk full: %d %q, want 503 naming free-space", code, body)
	}
	rows = append(rows, []string{"GET /readyz with the disk full", fmt.Sprint(code), body, "–"})
	resp, msg = c.uploadStatus(video, "film.mp4")
	if resp.StatusCode != http.StatusInsufficientStorage || msg != mp3converter.ErrInsufficientStorage.Message {
		t.Errorf("upload with the disk full: %s %q, want 507", resp.Status, msg)
	}
	rows = append(rows, []string{"the same upload with the disk full", fmt.Sprint(resp.StatusCode, " Retry-After ", resp.Header.Get("Retry-After")), msg,
		fmt.Sprint(len(files(t, videos)), " files, ", len(c.jobs("")), " jobs")})

	// Space freed: ready, and the same upload goes through.
	os.Remove(filler)
	os.Remove(filler2)
	code, body = readyz(t, srv.URL)
	if code != http.StatusOK {
		t.Errorf("/readyz with space freed: %d %q", code, body)
	}
	a := c.upload(video, "film.mp4")
	j := c.waitJob(a.JobID, time.Minute)
	if j.Status != "done" {
		t.Errorf("the upload after space was freed ended %s (%v)", j.Status, j.Error)
	}
	rows = append(rows, []string{"space freed: GET /readyz, then the same upload", fmt.Sprint(code, ", then 202"), body, "job " + j.Status})
	if len(c.jobs("")) != 1 {
		t.Errorf("%d jobs, want 1", len(c.jobs("")))
	}
	report(t, "disk-full.md", "| step | status | message | left behind |\n|---|---|---|---|\n", rows)
}

// slowUpload is an upload over its own connection whose body trickles:
// the header and the start of the form, then a byte every interval until
// the server answers or hangs up.
type slowUpload struct {
	conn   net.Conn
	start  time.Time
	answer chan slowAnswer
}

type slowAnswer struct {
	status     int
	retryAfter string
	msg        string
	after      time.Duration // since the upload started
	err        error
}

func (c *client) slowUpload(interval time.Duration) *slowUpload {
	c.t.Helper()
	return c.trickle(interval, "multipart/form-data; boundary=B", "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"slow.mp4\"\r\n\r\n")
}

// trickle is an upload whose body, of Content-Type ctype, starts with
// start and then trickles a byte every interval.
func (c *client) trickle(interval time.Duration, ctype, start string) *slowUpload {
	c.t.Helper()
	addr := strings.TrimPrefix(c.base, "http://")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		c.t.Fatal(err)
	}
	s := &slowUpload{conn: conn, start: time.Now(), answer: make(chan slowAnswer, 1)}
	fmt.Fprintf(conn, "POST /upload HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: %s\r\nContent-Length: 1000000\r\n\r\n%s", addr, c.token, ctype, start)
	go func() {
		for {
			time.Sleep(interval)
			if _, err := conn.Write([]byte{0}); err != nil {
				return
			}
		}
	}()
	go func() {
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		a := slowAnswer{err: err, after: time.Since(s.start)}
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			a.status, a.retryAfter, a.msg = resp.StatusCode, resp.Header.Get("Retry-After"), strings.TrimSpace(string(b))
		}
		s.answer <- a
	}()
	c.t.Cleanup(func() { conn.Close() })
	return s
}

// wait returns the server's answer, or a zero answer if none comes in d.
func (s *slowUpload) wait(d time.Duration) slowAnswer {
	select {
	case a := <-s.answer:
		return a
	case <-time.After(d):
		return slowAnswer{}
	}
}

func (s *slowUpload) stop() { s.conn.Close() }

// TestUploadTooSlow: 200 connections each sending a byte every 200 ms, from
// 20 users. The caps let 64 of them in (4 per user at most); the rest get
// 429 at once, and the 64 are cut with 408 when the grace is over. No job
// and no file is left, and the process holds no more descriptors than before.
func TestUploadTooSlow(t *testing.T) {
	cfg := testConfig(t)
	cfg.MinUploadRate, cfg.UploadGrace, cfg.MaxUploads, cfg.MaxUploadsPerUser = 64<<10, 3*time.Second, 64, 4
	srv := startServe(t, cfg)
	var clients []*client
	for i := range 20 {
		email := fmt.Sprintf("user%d@example.com", i)
		srv.addUser(t, email, "user-password", false)
		clients = append(clients, login(t, srv.URL, email, "user-password"))
	}
	fdsBefore := serverConns(t, srv.Addr)
	var uploads []*slowUpload
	for i := range 200 {
		uploads = append(uploads, clients[i%20].slowUpload(200*time.Millisecond))
	}
	time.Sleep(500 * time.Millisecond) // on purpose: the 200 uploads are under way
	during := serverConns(t, srv.Addr)
	byStatus := map[int][]time.Duration{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, u := range uploads {
		wg.Go(func() {
			a := u.wait(15 * time.Second)
			mu.Lock()
			defer mu.Unlock()
			byStatus[a.status] = append(byStatus[a.status], a.after)
			if a.status == http.StatusRequestTimeout && !strings.Contains(a.msg, "too slow") ||
				a.status == http.StatusTooManyRequests && (a.retryAfter == "" || a.msg != "too many uploads in progress; try again in a moment") {
				t.Errorf("%d %q Retry-After %q", a.status, a.msg, a.retryAfter)
			}
		})
	}
	wg.Wait()
	if len(byStatus[http.StatusTooManyRequests]) != 136 || len(byStatus[http.StatusRequestTimeout]) != 64 {
		t.Errorf("answers by status: 429: %d, 408: %d, other: %d; want 136 and 64", len(byStatus[429]), len(byStatus[408]), 200-len(byStatus[429])-len(byStatus[408]))
	}
	for _, d := range byStatus[http.StatusRequestTimeout] {
		if d < cfg.UploadGrace || d > cfg.UploadGrace+3*time.Second {
			t.Errorf("a slow upload was cut after %v, want just after the %v grace", d, cfg.UploadGrace)
		}
	}
	for _, u := range uploads {
		u.stop()
	}
	time.Sleep(time.Second) // the server closes its side
	left := files(t, filepath.Join(cfg.DataDir, "videos"))
	jobs := 0
	for _, c := range clients {
		jobs += len(c.jobs(""))
	}
	if len(left) != 0 || jobs != 0 {
		t.Errorf("the slow uploads left %d files and %d jobs", len(left), jobs)
	}
	// Closed connections leave the process asynchronously: give them a
	// moment, so that only descriptors really held count.
	// The server's side of the cut connections closes asynchronously: give
	// it a moment, so that only connections really held count.
	fdsAfter := serverConns(t, srv.Addr)
	for deadline := time.Now().Add(10 * time.Second); fdsAfter > fdsBefore && time.Now().Before(deadline); fdsAfter = serverConns(t, srv.Addr) {
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("connections the server holds: %d before, %d during the uploads, %d after", fdsBefore, during, fdsAfter)
	if during < 64 || fdsAfter > fdsBefore {
		t.Errorf("connections the server holds: %d before, %d during, %d after; want 64 or more during, and none left", fdsBefore, during, fdsAfter)
	}
	report(t, "slow-uploads.md", "| answer | uploads | answered after |\n|---|---|---|\n", [][]string{
		{"429 too many uploads in progress", fmt.Sprint(len(byStatus[429])), spread(byStatus[429])},
		{"408 too slow", fmt.Sprint(len(byStatus[408])), spread(byStatus[408])},
		{"left behind", fmt.Sprintf("%d jobs, %d files", jobs, len(left)), fmt.Sprintf("server connections %d before, %d after", fdsBefore, fdsAfter)},
	})
}

func spread(ds []time.Duration) string {
	if len(ds) == 0 {
		return "–"
	}
	lo, hi := ds[0], ds[0]
	for _, d := range ds {
		lo, hi = min(lo, d), max(hi, d)
	}
	return fmt.Sprintf("%v to %v", lo.Round(time.Millisecond), hi.Round(time.Millisecond))
}

// serverConns counts the established TCP connections whose local end is
// addr: the server's side of its clients' connections, whatever else the
// test process holds open.
func serverConns(t *testing.T, addr string) int {
	t.Helper()
	_, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	want := fmt.Sprintf(":%04X ", p)
	n := 0
	for _, file := range []string{"/proc/self/net/tcp", "/proc/self/net/tcp6"} {
		b, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			// local_address is f[1], its state f[3]: 01 is ESTABLISHED.
			if len(f) > 3 && strings.Contains(f[1]+" ", want) && f[3] == "01" {
				n++
			}
		}
	}
	return n
}

// TestUploadCaps: with 2 uploads per user and 3 in all, a user's third
// concurrent upload gets 429 with Retry-After while another user's upload
// is accepted; with 3 in progress, anyone's next gets 429 until one ends.
func TestUploadCaps(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxUploadsPerUser, cfg.MaxUploads = 2, 3
	srv := startServe(t, cfg)
	users := map[string]*client{}
	for _, name := range []string{"ann", "bob", "cy"} {
		srv.addUser(t, name+"@example.com", name+"-password", false)
		users[name] = login(t, srv.URL, name+"@example.com", name+"-password")
	}
	video := testmedia.Make(t, testmedia.MP4, 1)
	ann1, ann2 := users["ann"].slowUpload(200*time.Millisecond), users["ann"].slowUpload(200*time.Millisecond)
	time.Sleep(300 * time.Millisecond) // both are in progress
	a := users["ann"].slowUpload(200 * time.Millisecond).wait(5 * time.Second)
	if a.status != http.StatusTooManyRequests || a.retryAfter == "" || a.after > time.Second {
		t.Errorf("ann's third upload: %d %q Retry-After %q after %v, want 429 at once", a.status, a.msg, a.retryAfter, a.after)
	}
	rows := [][]string{{"ann's 3rd upload, 2 of hers in progress", fmt.Sprint(a.status, " Retry-After ", a.retryAfter), a.msg}}
	bob := users["bob"].upload(video, "bob.mp4")
	rows = append(rows, []string{"bob's upload meanwhile", "202", "accepted"})
	bobSlow := users["bob"].slowUpload(200 * time.Millisecond)
	time.Sleep(300 * time.Millisecond) // 3 in progress: the total cap
	resp, msg := users["cy"].uploadStatus(video, "cy.mp4")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("cy's upload with 3 in progress: %s %q", resp.Status, msg)
	}
	rows = append(rows, []string{"cy's upload, 3 in progress (total cap 3)", fmt.Sprint(resp.StatusCode, " Retry-After ", resp.Header.Get("Retry-After")), msg})
	ann1.stop()
	testsupport.Eventually(t, 5*time.Second, "room for cy's upload once ann's ended", func() bool {
		resp, _ = users["cy"].uploadStatus(video, "cy.mp4")
		return resp.StatusCode != http.StatusTooManyRequests
	})
	if resp.StatusCode != http.StatusAccepted {
		t.Errorf("cy's upload once one of ann's ended: %s", resp.Status)
	}
	rows = append(rows, []string{"cy's upload once ann's 1st was dropped", fmt.Sprint(resp.StatusCode), "accepted"})
	ann2.stop()
	bobSlow.stop()
	if j := users["bob"].waitJob(bob.JobID, time.Minute); j.Status != "done" {
		t.Errorf("bob's job ended %s", j.Status)
	}
	if n := len(users["ann"].jobs("")); n != 0 {
		t.Errorf("ann's dropped uploads left %d jobs", n)
	}
	report(t, "upload-caps.md", "| request | status | message |\n|---|---|---|\n", rows)
}

// TestDiskPartialUploads: partial blobs and scratch files that a killed
// serve left in its data dir are gone once serve starts again, however
// young they are; whole blobs stay.
func TestDiskPartialUploads(t *testing.T) {
	cfg := testConfig(t)
	id := mp3converter.NewID()
	partial := []string{
		filepath.Join(cfg.DataDir, "videos", ".tmp", id+"-123456"),
		filepath.Join(cfg.DataDir, "mp3s", ".tmp", mp3converter.NewID()+"-654321"),
		filepath.Join(cfg.DataDir, "tmp", "job-1", "video"),
	}
	whole := filepath.Join(cfg.DataDir, "videos", id[len(id)-2:], id)
	for _, p := range append(partial, whole) {
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, make([]byte, 64<<10), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	startServe(t, cfg)
	for _, p := range partial {
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s survived serve's start (%v)", p, err)
		}
	}
	if _, err := os.Stat(whole); err != nil {
		t.Errorf("a whole blob went: %v", err)
	}
}

// TestDiskFullJobWaits: a job accepted just before the disk fills cannot
// write its MP3; it waits, spending no attempt, and finishes once space is
// freed.
func TestDiskFullJobWaits(t *testing.T) {
	video := testmedia.Make(t, testmedia.MP4, 40)
	cfg := testConfig(t)
	cfg.DataDir = mountTmpfs(t, "16m")
	cfg.MinFreeSpace = 0            // no floor: the disk fills under a job in flight
	cfg.FFmpeg = slowFFmpeg(t, "1") // so that the disk is full before ffmpeg writes
	srv := startServe(t, cfg)
	srv.addUser(t, "ann@example.com", "ann-password", false)
	c := login(t, srv.URL, "ann@example.com", "ann-password")

	a := c.upload(video, "film.mp4")
	filler := fill(t, cfg.DataDir, "filler", 0)
	time.Sleep(3 * time.Second) // on purpose: the job must wait out a full disk, not fail
	j, _ := c.job(a.JobID)
	if j.Status == "done" || j.Status == "failed" || j.Attempts > 1 {
		t.Fatalf("with the disk full the job is %s after %d attempts (%s); want it waiting", j.Status, j.Attempts, deref(j.Error))
	}
	t.Logf("disk full for 3 s: job %s, %d attempts, %q", j.Status, j.Attempts, deref(j.Error))
	os.Remove(filler)
	j = c.waitJob(a.JobID, 90*time.Second)
	if j.Status != "done" || j.Attempts != 1 {
		t.Errorf("after space was freed: %s after %d attempts (%s); want done after 1", j.Status, j.Attempts, deref(j.Error))
	}
	code, out, _ := runCmd(t, "", "dead-letters", "list", "--data-dir", cfg.DataDir, "--queue", "video")
	if code != 0 || strings.Count(out, "\n") != 1 {
		t.Errorf("dead letters: %d %q; want none", code, out)
	}
}
