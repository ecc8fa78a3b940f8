package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter/internal/testsupport"
)

// TestSlowClients: no client, signed in or not, holds a connection for
// ever. serve runs as its own process limited to 1,024 descriptors. Each
// route is sent the headers of a 200,000-byte body and one byte of it:
// an answer given without the body closes the connection at once, and a
// route that reads the body cuts it at --body-timeout. Then 2,000 such
// connections from one address: another user, from another address, still
// signs in within a second, and the server's descriptors return to their
// idle count.
func TestSlowClients(t *testing.T) {
	dir := t.TempDir()
	addr, metricsAddr := testsupport.FreeAddr(t), testsupport.FreeAddr(t)
	env := []string{"MP3CONVERTER_DATA_DIR=" + dir, "MP3CONVERTER_ADDR=" + addr, "MP3CONVERTER_METRICS_ADDR=" + metricsAddr,
		"MP3CONVERTER_ADMIN_EMAIL=ann@example.com", "MP3CONVERTER_ADMIN_PASSWORD=ann-password",
		"MP3CONVERTER_BODY_TIMEOUT=2s", "MP3CONVERTER_MAX_UPLOADS_PER_USER=1", "MP3CONVERTER_LOG_LEVEL=warn"}
	srv := startCommand(t, env, "prlimit", "--nofile=1024:1024", buildBinary(t), "serve")
	base := "http://" + addr
	waitReady(t, base, 30*time.Second)
	add := exec.Command(buildBinary(t), "user", "add", "--email", "bob@example.com", "--password-stdin")
	add.Env, add.Stdin = append(os.Environ(), env...), strings.NewReader("bob-password\n")
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("user add: %v\n%s", err, out)
	}
	ann := login(t, base, "ann@example.com", "ann-password")
	rows := slowRoutes(t, addr, metricsAddr, ann.token)
	rows = append(rows, slowFlood(t, base, srv.cmd.Process.Pid, ann.token)...)
	report(t, "slow-clients.md", "| request | answer | connection closed after, or connections |\n|---|---|---|\n", rows)
}

// slowRoutes holds back the body of a request to each route, and returns
// what each answered and when it closed the connection.
func slowRoutes(t *testing.T, addr, metricsAddr, token string) [][]string {
	held := openSlow(t, addr, "POST /upload", token, "multipart/form-data; boundary=B") // the one upload ann may have
	defer held.Close()
	var rows [][]string
	for _, c := range []struct{ name, addr, request, token, want string }{
		{"POST /login", addr, "POST /login", "", "401"},
		{"POST /upload without a token", addr, "POST /upload", "", "401"},
		{"POST /upload past the user's uploads in progress", addr, "POST /upload", token, "429"},
		{"GET /healthz with a body", addr, "GET /healthz", "", "200"},
		{"an unknown route", addr, "GET /no-such-route", "", "404"},
		{"GET /jobs/events with a body, no token", addr, "GET /jobs/events", "", "401"},
		{"GET /metrics with a body (metrics listener)", metricsAddr, "GET /metrics", "", "200"},
		{"POST /webhooks with a token", addr, "POST /webhooks", token, "408"},
	} {
		status, after := heldBack(t, c.addr, c.request, c.token)
		rows = append(rows, []string{c.name, status, after.Round(10 * time.Millisecond).String()})
		limit := 2 * time.Second // answered at once, the rest of the body given 1 s
		if c.want == "408" {
			limit = 3 * time.Second // --body-timeout 2s
		}
		if !strings.HasPrefix(status, c.want) || after > limit {
			t.Errorf("%s: %q, connection closed after %v; want %s and closed within %v", c.name, status, after, c.want, limit)
		}
	}
	return rows
}

// slowFlood opens 2,000 connections from 127.0.0.1, half to a route that
// answers at once, half to one that reads its body, and meanwhile signs
// bob in from 127.0.0.2. The server's descriptors must come back to their
// idle count.
func slowFlood(t *testing.T, base string, pid int, token string) [][]string {
	other := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}).DialContext}}
	otherLogin := func() (int, time.Duration) {
		req, _ := http.NewRequest("POST", base+"/login", nil)
		req.SetBasicAuth("bob@example.com", "bob-password")
		return otherDo(other, req)
	}
	// The idle count is taken with bcrypt's first hash done.
	otherLogin()
	time.Sleep(500 * time.Millisecond) // on purpose: the login's connection settles before the count
	idle := countFDs(t, pid)

	answers, conns := flood(base, token)
	time.Sleep(300 * time.Millisecond) // on purpose: the flood's connections are open
	during := countFDs(t, pid)
	code, took := otherLogin()
	hcode, htook := otherDo(other, must(http.NewRequest("GET", base+"/healthz", nil)))
	answers.wait()
	duringMax := max(during, countFDs(t, pid))
	for _, c := range conns() {
		c.Close()
	}
	after := countFDs(t, pid)
	for deadline := time.Now().Add(15 * time.Second); after > idle && time.Now().Before(deadline); after = countFDs(t, pid) {
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("2,000 slow connections from one address: answers %v; bob's login from 127.0.0.2: %d in %v, /healthz %d in %v; server sockets %d idle, %d during, %d after",
		answers.counts, code, took, hcode, htook, idle, duringMax, after)
	if code != 200 || took > time.Second || hcode != 200 || htook > time.Second {
		t.Errorf("during the flood, another user's login: %d in %v, /healthz: %d in %v; want 200 within 1 s", code, took, hcode, htook)
	}
	if after > idle {
		t.Errorf("server sockets: %d idle, %d after the flood", idle, after)
	}
	var rows [][]string
	for status, n := range answers.counts {
		rows = append(rows, []string{"2,000 at once from one address", status, fmt.Sprint(n)})
	}
	return append(rows, []string{"another user's login from another address during the flood", fmt.Sprint(code), took.Round(time.Millisecond).String()},
		[]string{"server sockets (descriptor limit 1,024)", fmt.Sprintf("%d idle, %d during, %d after", idle, duringMax, after), ""})
}

// floodAnswers counts the status lines the flood's connections got.
type floodAnswers struct {
	mu     sync.Mutex
	wg     sync.WaitGroup
	counts map[string]int
}

func (a *floodAnswers) add(status string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.counts[status]++
}

func (a *floodAnswers) wait() { a.wg.Wait() }

// flood opens the 2,000 connections, each announcing a 200,000-byte body
// and sending one byte of it, and reads each one's status line.
func flood(base, token string) (*floodAnswers, func() []net.Conn) {
	addr := strings.TrimPrefix(base, "http://")
	answers := &floodAnswers{counts: map[string]int{}}
	var mu sync.Mutex
	var conns []net.Conn
	for i := range 2000 {
		answers.wg.Go(func() {
			request := "POST /login"
			if i%2 == 1 {
				request = "POST /webhooks"
			}
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				answers.add("dial: " + err.Error())
				return
			}
			fmt.Fprintf(c, "%s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 200000\r\n\r\n{", request, token)
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			line, err := bufio.NewReader(c).ReadString('\n')
			status := strings.TrimSpace(strings.TrimPrefix(line, "HTTP/1.1 "))
			if err != nil && line == "" {
				status = "no answer"
			}
			answers.add(status)
		})
	}
	return answers, func() []net.Conn {
		mu.Lock()
		defer mu.Unlock()
		return conns
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// heldBack sends request's headers, announcing a 200,000-byte body, and
// one byte of it, then nothing: it returns the status line it got and how
// long until the server closed the connection.
func heldBack(t *testing.T, addr, request, token string) (string, time.Duration) {
	t.Helper()
	c := openSlow(t, addr, request, token, "application/json")
	defer c.Close()
	start := time.Now()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	b, err := io.ReadAll(c)
	status, _, _ := strings.Cut(strings.TrimPrefix(string(b), "HTTP/1.1 "), "\r\n")
	if err != nil {
		status += " (" + err.Error() + ")"
	}
	return status, time.Since(start)
}

func openSlow(t *testing.T, addr, request, token, ctype string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	auth := ""
	if token != "" {
		auth = "Authorization: Bearer " + token + "\r\n"
	}
	fmt.Fprintf(c, "%s HTTP/1.1\r\nHost: x\r\n%sContent-Type: %s\r\nContent-Length: 200000\r\n\r\n-", request, auth, ctype)
	return c
}

// otherDo sends req with c and returns its status and how long it took.
func otherDo(c *http.Client, req *http.Request) (int, time.Duration) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := c.Do(req.WithContext(ctx))
	if err != nil {
		return 0, time.Since(start)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, time.Since(start)
}

// countFDs counts the open descriptors of process pid that are sockets:
// the connections it holds (and its listeners). Database files are left
// out: the pool keeps a few of them open between requests.
func countFDs(t *testing.T, pid int) int {
	t.Helper()
	dir := filepath.Join("/proc", fmt.Sprint(pid), "fd")
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if target, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil && strings.HasPrefix(target, "socket:") {
			n++
		}
	}
	return n
}
