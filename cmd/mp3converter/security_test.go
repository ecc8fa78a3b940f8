package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	apiclient "github.com/mp3converter/mp3converter/client"
	"github.com/mp3converter/mp3converter/internal/testmedia"
)

func tryLogin(t *testing.T, base, email, password, client string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/login", nil)
	req.SetBasicAuth(email, password)
	if client != "" {
		// The test reaches the server over loopback, a trusted proxy by
		// default, so it can stand for different clients.
		req.Header.Set("X-Forwarded-For", client)
	}
	resp, _ := do(t, req)
	return resp
}

// TestLoginThrottling: password guessing is cut off per account and per
// client address, with 429 and Retry-After, even for the right password.
func TestLoginThrottling(t *testing.T) {
	srv := startServe(t, testConfig(t))
	srv.addUser(t, "ann@example.com", "ann-password", false)
	srv.addUser(t, "bob@example.com", "bob-password", false)

	for i := 1; i <= 5; i++ {
		if resp := tryLogin(t, srv.URL, "ann@example.com", "guess"+strconv.Itoa(i), "198.51.100.1"); resp.StatusCode != 401 {
			t.Fatalf("guess %d: %d, want 401", i, resp.StatusCode)
		}
	}
	for _, tt := range []struct{ password, client string }{
		{"guess6", "198.51.100.1"},
		{"ann-password", "198.51.100.1"}, // the limit holds even for the right password
	} {
		resp := tryLogin(t, srv.URL, "ANN@example.com", tt.password, tt.client)
		ra, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		if resp.StatusCode != http.StatusTooManyRequests || ra < 1 || ra > 15*60 {
			t.Errorf("%s from %s after 5 failures: %d, Retry-After %q", tt.password, tt.client, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
	// A stranger's guesses do not lock the owner out: the limit is the
	// account's from that address, not the account's everywhere.
	if resp := tryLogin(t, srv.URL, "ann@example.com", "ann-password", "198.51.100.2"); resp.StatusCode != 200 {
		t.Errorf("the owner from her own address after a stranger's 5 failures: %d, want 200", resp.StatusCode)
	}
	if resp := tryLogin(t, srv.URL, "bob@example.com", "bob-password", "198.51.100.1"); resp.StatusCode != 200 {
		t.Errorf("another account from the same address: %d, want 200", resp.StatusCode)
	}
	// One address spraying many accounts is stopped after 20 failures.
	for i := 0; i < 20; i++ {
		tryLogin(t, srv.URL, "user"+strconv.Itoa(i)+"@example.com", "x", "203.0.113.66")
	}
	if resp := tryLogin(t, srv.URL, "bob@example.com", "bob-password", "203.0.113.66"); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("after 20 failures from one address: %d, want 429", resp.StatusCode)
	}
	if resp := tryLogin(t, srv.URL, "bob@example.com", "bob-password", "203.0.113.67"); resp.StatusCode != 200 {
		t.Errorf("a neighbouring address: %d, want 200", resp.StatusCode)
	}
}

// TestLoginRaces: parallel logins are counted before their passwords are
// checked, so a burst checks no more than the limit allows, and a burst
// from one address does not hold up another user's login.
func TestLoginRaces(t *testing.T) {
	srv := startServe(t, testConfig(t))
	srv.addUser(t, "ann@example.com", "ann-password", false)
	srv.addUser(t, "bob@example.com", "bob-password", false)
	codes := burst(t, 60, func(i int) int {
		password := "guess" + strconv.Itoa(i)
		if i == 30 {
			password = "ann-password"
		}
		return tryLogin(t, srv.URL, "ann@example.com", password, "198.51.100.1").StatusCode
	})
	// At most 5 wrong passwords are checked; the right one, if its turn
	// came, is not a failure.
	if checked := codes[401] + codes[200]; codes[401] > 5 || codes[200] > 1 || codes[429] != 60-checked {
		t.Errorf("60 parallel logins for one account from one address: %v; want at most 5 wrong passwords checked, the rest 429", codes)
	}
	t.Logf("60 parallel logins, 59 wrong and 1 right: %v", codes)

	done := make(chan time.Duration)
	go func() {
		time.Sleep(50 * time.Millisecond)
		start := time.Now()
		if resp := tryLogin(t, srv.URL, "bob@example.com", "bob-password", "198.51.100.2"); resp.StatusCode != 200 {
			t.Errorf("bob during a burst from another address: %d", resp.StatusCode)
		}
		done <- time.Since(start)
	}()
	codes = burst(t, 300, func(i int) int {
		return tryLogin(t, srv.URL, "user"+strconv.Itoa(i)+"@example.com", "x", "203.0.113.66").StatusCode
	})
	wait := <-done
	// Before, the other login waited behind all 300 checks (20 s); now
	// behind at most 20, with checks capped: seconds even on a loaded machine.
	if codes[401] > 20 || wait > 10*time.Second {
		t.Errorf("300 parallel failures from one address: %v; bob waited %v", codes, wait)
	}
	t.Logf("300 parallel failures from one address: %v; another user's login took %v", codes, wait)
}

// burst runs f(0..n-1) in parallel and counts the status codes it returns.
func burst(t *testing.T, n int, f func(int) int) map[int]int {
	var mu sync.Mutex
	var wg sync.WaitGroup
	codes := map[int]int{}
	for i := range n {
		wg.Go(func() {
			code := f(i)
			mu.Lock()
			codes[code]++
			mu.Unlock()
		})
	}
	wg.Wait()
	return codes
}

// TestDeleteJob: DELETE /jobs/{id} removes the job and its files; nobody
// else can.
func TestDeleteJob(t *testing.T) {
	cfg := testConfig(t)
	cfg.KeepVideos = true
	srv := startServe(t, cfg)
	srv.addUser(t, "ann@example.com", "ann-password", false)
	srv.addUser(t, "bob@example.com", "bob-password", false)
	ann := login(t, srv.URL, "ann@example.com", "ann-password")
	bob := login(t, srv.URL, "bob@example.com", "bob-password")
	j := ann.waitJob(ann.upload(testmedia.Make(t, testmedia.MP4, 1), "a.mp4").JobID, 30*time.Second)
	keep := ann.waitJob(ann.upload(testmedia.Make(t, testmedia.MP4, 1), "b.mp4").JobID, 30*time.Second)
	if n := countFiles(t, cfg.DataDir, "videos") + countFiles(t, cfg.DataDir, "mp3s"); n != 4 {
		t.Fatalf("%d files stored for two jobs kept with their videos, want 4", n)
	}

	if resp, _ := do(t, bob.request("DELETE", "/jobs/"+j.ID, nil)); resp.StatusCode != 404 {
		t.Errorf("bob deleting ann's job: %d, want 404", resp.StatusCode)
	}
	if resp, _ := do(t, ann.request("DELETE", "/jobs/"+j.ID, nil)); resp.StatusCode != 204 {
		t.Fatalf("DELETE: %d, want 204", resp.StatusCode)
	}
	if _, code := ann.job(j.ID); code != 404 {
		t.Errorf("GET a deleted job: %d", code)
	}
	if resp, _ := do(t, ann.request("GET", "/download?fid="+*j.MP3FID, nil)); resp.StatusCode != 404 {
		t.Errorf("download a deleted job's MP3: %d", resp.StatusCode)
	}
	if resp, _ := do(t, ann.request("DELETE", "/jobs/"+j.ID, nil)); resp.StatusCode != 404 {
		t.Errorf("DELETE twice: %d, want 404", resp.StatusCode)
	}
	if n := countFiles(t, cfg.DataDir, "videos") + countFiles(t, cfg.DataDir, "mp3s"); n != 2 {
		t.Errorf("%d files left, want the other job's 2", n)
	}
	if _, code := ann.job(keep.ID); code != 200 {
		t.Errorf("the other job: %d", code)
	}
}

// countFiles counts the blobs of a localfs store.
func countFiles(t *testing.T, dataDir, store string) int {
	t.Helper()
	n := 0
	root := filepath.Join(dataDir, store)
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && !strings.Contains(p, "/.tmp/") {
			n++
		}
		return nil
	})
	return n
}

// TestSpreadGuessing: guesses at one account spread over many addresses
// are bounded by the account's budget, and IPv6 clients count by their /64;
// the owner's browser or CLI, holding a device cookie from an earlier
// login, still gets in once the budget is spent.
func TestSpreadGuessing(t *testing.T) {
	srv := startServe(t, testConfig(t)) // loopback is a trusted proxy: X-Forwarded-For names the client
	srv.addUser(t, "ann@example.com", "ann-password", false)

	// Ann signed in from her laptop last week: the CLI kept the cookie.
	laptop := apiclient.New(srv.URL, "")
	if _, err := laptop.Login(context.Background(), "ann@example.com", "ann-password"); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(laptop.Device, "mp3c_device_") {
		t.Fatalf("no device cookie after a login: %q", laptop.Device)
	}

	guess := func(client string) int {
		return tryLogin(t, srv.URL, "ann@example.com", "wrong-password", client).StatusCode
	}
	v6, v4 := map[int]int{}, map[int]int{}
	for i := range 60 {
		v6[guess(fmt.Sprintf("2001:db8:1:2:%x::1", i+1))]++ // one /64
	}
	for i := range 60 {
		v4[guess(fmt.Sprintf("198.51.100.%d", i+1))]++
	}
	t.Logf("60 wrong passwords from 60 addresses of one /64: %v; then 60 from 60 IPv4 addresses: %v", v6, v4)
	// Before, all 120 were checked (401). Now the /64 is one client (5 per
	// quarter hour), and the account takes 10 from all clients together.
	if v6[401] != 5 || v6[429] != 55 || v4[401] != 5 || v4[429] != 55 {
		t.Errorf("checked %d of the /64's and %d of the IPv4 guesses; want 5 and 5 (the account's budget of 10)", v6[401], v4[401])
	}

	// The right password from a new address, without a device cookie, is
	// refused too: the budget is the account's.
	resp := tryLogin(t, srv.URL, "ann@example.com", "ann-password", "192.0.2.200")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("the right password from a stranger's address after the budget: %d, want 429 with Retry-After", resp.StatusCode)
	}
	// Ann's laptop gets in, from the same address as the stranger, and the
	// cookie is renewed.
	before := laptop.Device
	if _, err := laptop.Login(context.Background(), "ann@example.com", "ann-password"); err != nil {
		t.Errorf("the owner's CLI with its device cookie after the budget: %v, want 200", err)
	}
	if laptop.Device == before {
		t.Error("the device cookie was not renewed")
	}
	// A device cookie has a budget of its own: 5 wrong passwords, then 429
	// for that cookie.
	stolen := apiclient.New(srv.URL, "")
	stolen.Device = laptop.Device
	codes := map[int]int{}
	for range 7 {
		_, err := stolen.Login(context.Background(), "ann@example.com", "wrong-password")
		var e *apiclient.APIError
		if errors.As(err, &e) {
			codes[e.Status]++
		}
	}
	if codes[401] != 5 || codes[429] != 2 {
		t.Errorf("7 wrong passwords with a device cookie: %v, want 5×401 then 429", codes)
	}
	// A cookie of another account, or a forged one, counts for nothing.
	for _, c := range []string{laptop.Device + "x", strings.Replace(laptop.Device, ".", ".0", 1), "mp3c_device_x=1.2.3"} {
		forged := apiclient.New(srv.URL, "")
		forged.Device = c
		if _, err := forged.Login(context.Background(), "ann@example.com", "ann-password"); !apiclient.IsStatus(err, http.StatusTooManyRequests) {
			t.Errorf("a forged device cookie %q: %v, want 429", c, err)
		}
	}
}
