package main

import (
	"bufio"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter/app"
	"github.com/mp3converter/mp3converter/internal/testmedia"
	"github.com/mp3converter/mp3converter/internal/testsupport"
	"github.com/mp3converter/mp3converter/sqlite"
)

// descriptors are the test process's open file descriptors (serve runs in
// it), by what they are.
type descriptors struct{ all, sockets, db int }

func (d descriptors) String() string {
	return fmt.Sprintf("%d (%d sockets, %d on the database)", d.all, d.sockets, d.db)
}

// notDB is every descriptor but the database's, whose pool keeps idle
// connections for a minute.
func (d descriptors) notDB() int { return d.all - d.db }

func openFDs(t testing.TB) descriptors {
	t.Helper()
	d, err := readFDs()
	if err != nil {
		t.Fatalf("counting descriptors: %v", err)
	}
	return d
}

func readFDs() (descriptors, error) {
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return descriptors{}, err
	}
	var d descriptors
	for _, fd := range fds {
		target, err := os.Readlink("/proc/self/fd/" + fd.Name())
		if err != nil {
			continue // the directory's own, closed since
		}
		d.all++
		switch {
		case strings.HasPrefix(target, "socket:"):
			d.sockets++
		case strings.Contains(target, "mp3converter.db"):
			d.db++
		}
	}
	return d, nil
}

// peakFDs samples the descriptors every few milliseconds until stop is
// called, which returns the most seen of each kind.
func peakFDs() (stop func() descriptors) {
	done, out := make(chan struct{}), make(chan descriptors)
	go func() {
		var peak descriptors
		for {
			d, _ := readFDs()
			peak = descriptors{max(peak.all, d.all), max(peak.sockets, d.sockets), max(peak.db, d.db)}
			select {
			case <-done:
				out <- peak
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	return func() descriptors { close(done); return <-out }
}

// waitFDs waits until the descriptors other than the database's are back
// to within slack of before's, and returns them.
func waitFDs(t *testing.T, before descriptors, slack int) descriptors {
	t.Helper()
	var now descriptors
	testsupport.Eventually(t, 10*time.Second, fmt.Sprintf("descriptors back to %s", before), func() bool {
		now = openFDs(t)
		return now.notDB() <= before.notDB()+slack
	})
	return now
}

// selfCPU is the CPU time this process has used, user and system.
func selfCPU() time.Duration {
	self, _ := testmedia.CPUUsed()
	return self
}

// rss is the process's resident memory in bytes.
func rss(t testing.TB) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if kb, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(kb), " kB"), 10, 64)
			return n << 10
		}
	}
	return 0
}

// counts counts answers by status (or error).
type counts map[string]int

// String is "8×200, 292×429", by status.
func (c counts) String() string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(c)) {
		out = append(out, fmt.Sprintf("%d×%s", c[k], k))
	}
	return strings.Join(out, ", ")
}

// TestEventStreamCaps: with 3 streams per user and 5 in all, ann's 4th
// stream gets 429 with Retry-After; bob's streams count toward the total,
// so his 3rd gets 429 with 5 open; once one of ann's closes, his 3rd is
// accepted; once all close, the process's descriptors are back to what
// they were.
func TestEventStreamCaps(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxEventStreamsPerUser, cfg.MaxEventStreams = 3, 5
	srv := startServe(t, cfg)
	srv.addUser(t, "ann@example.com", "ann-password", false)
	srv.addUser(t, "bob@example.com", "bob-password", false)
	ann := login(t, srv.URL, "ann@example.com", "ann-password")
	bob := login(t, srv.URL, "bob@example.com", "bob-password")
	hc := oneConnEach(t)
	open := func(c *client, what string) *sseStream {
		t.Helper()
		a := tryEvents(t, hc, c, "")
		if a.stream == nil {
			t.Fatalf("%s: %d %q %v, want a stream", what, a.status, a.msg, a.err)
		}
		return a.stream
	}
	refused := func(c *client, what string) streamAttempt {
		t.Helper()
		a := tryEvents(t, hc, c, "")
		if a.stream != nil {
			a.stream.close()
		}
		if a.status != http.StatusTooManyRequests || a.retryAfter == "" {
			t.Errorf("%s: %d %q Retry-After %q, want 429 with Retry-After", what, a.status, a.msg, a.retryAfter)
		}
		return a
	}

	before := openFDs(t)
	var streams []*sseStream
	for i := range 3 {
		streams = append(streams, open(ann, fmt.Sprintf("ann's stream %d", i+1)))
	}
	a := refused(ann, "ann's 4th stream")
	rows := [][]string{{"ann's 4th stream, 3 of hers open (per-user cap 3)", fmt.Sprint(a.status, " Retry-After ", a.retryAfter), a.msg}}
	streams = append(streams, open(bob, "bob's 1st stream"), open(bob, "bob's 2nd stream"))
	a = refused(bob, "bob's 3rd stream, 5 open")
	rows = append(rows, []string{"bob's 3rd stream, 5 open (total cap 5)", fmt.Sprint(a.status, " Retry-After ", a.retryAfter), a.msg})
	during := openFDs(t)

	streams[0].close() // ann's first
	var third streamAttempt
	testsupport.Eventually(t, 5*time.Second, "bob's 3rd stream accepted once ann's 1st closed", func() bool {
		third = tryEvents(t, hc, bob, "")
		return third.stream != nil
	})
	streams = append(streams, third.stream)
	rows = append(rows, []string{"bob's 3rd stream once ann's 1st closed", "200", "accepted"})
	for _, s := range streams {
		s.close()
	}
	after := waitFDs(t, before, 3)
	t.Logf("descriptors: %s before, %s with 5 streams open, %s after they closed", before, during, after)
	if during.sockets < before.sockets+5 {
		t.Errorf("5 streams open added %d sockets; the count misses them", during.sockets-before.sockets)
	}
	again := open(ann, "ann's stream after all closed")
	again.close()
	rows = append(rows, []string{"descriptors (sockets) before / with 5 streams / after", "",
		fmt.Sprintf("%d (%d) / %d (%d) / %d (%d)", before.all, before.sockets, during.all, during.sockets, after.all, after.sockets)})
	report(t, "event-stream-caps.md", "| request | status | message |\n|---|---|---|\n", rows)
}

// TestEventStreamFlood: 300 streams at once from one token with the
// default caps, each with Last-Event-ID 1-x-0 (which replayed every job):
// exactly the per-user cap are accepted, each starting with one refetch
// event, the rest get 429 at once; the descriptors stay bounded and come
// back once the streams close. Then 300 parallel GET /jobs share the
// bounded SQLite pool: all answered, within 3 descriptors per connection.
func TestEventStreamFlood(t *testing.T) {
	p, _ := app.LookupProcess("serve")
	defaults, err := app.ParseConfig(p, nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)
	cfg.MaxEventStreamsPerUser, cfg.MaxEventStreams = defaults.MaxEventStreamsPerUser, defaults.MaxEventStreams
	srv := startServe(t, cfg)
	srv.addUser(t, "ann@example.com", "ann-password", false)
	ann := login(t, srv.URL, "ann@example.com", "ann-password")
	hc := oneConnEach(t)

	before, cpuBefore, rssBefore := openFDs(t), selfCPU(), rss(t)
	peak := peakFDs()
	const attempts = 300
	results := make([]streamAttempt, attempts)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range results {
		wg.Go(func() { results[i] = tryEvents(t, hc, ann, "1-x-0") })
	}
	wg.Wait()
	took := time.Since(start)
	var open []streamAttempt
	statuses := counts{}
	for _, a := range results {
		switch {
		case a.err != nil:
			statuses[a.err.Error()]++
		case a.stream != nil:
			open = append(open, a)
			statuses["200"]++
		default:
			statuses[fmt.Sprint(a.status)]++
			if a.status != http.StatusTooManyRequests || a.retryAfter == "" {
				t.Errorf("refused with %d %q Retry-After %q, want 429 with Retry-After", a.status, a.msg, a.retryAfter)
			}
		}
	}
	var sent int64
	for _, a := range open {
		ev, _ := a.stream.waitFor("the first event", 10*time.Second, func(sseEvent) bool { return true })
		if ev.Event != "refetch" || ev.Data != "{}" || ev.ID == "" {
			t.Errorf("first event of a stream from 1-x-0: %+v, want refetch", ev)
		}
		sent += a.bytes.Load()
	}
	cpu, rssOpen := selfCPU()-cpuBefore, rss(t)
	// The refused connections close within moments; then what is left is
	// the streams: two sockets each here, the client's end and serve's.
	var steady descriptors
	testsupport.Eventually(t, 5*time.Second, fmt.Sprintf("the descriptors of %d streams", len(open)), func() bool {
		steady = openFDs(t)
		return steady.notDB() <= before.notDB()+2*len(open)+3
	})
	for _, a := range open {
		a.stream.close()
	}
	after := waitFDs(t, before, 3)
	peaked := peak()
	t.Logf("%d attempts in %v: %v; %d bytes sent on the %d streams; %v of CPU (the clients' too); resident memory %d MB before, %d MB with the streams open; descriptors %s before, at most %s during, %s with %d open, %s after",
		attempts, took.Round(time.Millisecond), statuses, sent, len(open), cpu.Round(time.Millisecond), rssBefore>>20, rssOpen>>20,
		before, peaked, steady, len(open), after)
	if len(open) != cfg.MaxEventStreamsPerUser || statuses["429"] != attempts-cfg.MaxEventStreamsPerUser {
		t.Errorf("%d attempts: %v; want %d streams and the rest 429", attempts, statuses, cfg.MaxEventStreamsPerUser)
	}
	rows := [][]string{{fmt.Sprintf("%d streams at once, Last-Event-ID 1-x-0", attempts), statuses.String(),
		fmt.Sprintf("%d bytes on the %d streams (each: one refetch), in %v", sent, len(open), took.Round(time.Millisecond))},
		{"CPU, resident memory (serve and the clients)", "", fmt.Sprintf("%v; %d → %d MB", cpu.Round(time.Millisecond), rssBefore>>20, rssOpen>>20)},
		{"descriptors (sockets): before / peak / 8 open / after", "", fmt.Sprintf("%d (%d) / %d (%d) / %d (%d) / %d (%d)",
			before.all, before.sockets, peaked.all, peaked.sockets, steady.all, steady.sockets, after.all, after.sockets)}}

	rows = append(rows, poolFlood(t, hc, srv.URL, ann.token, attempts))
	report(t, "event-stream-flood.md", "| request | statuses | figures |\n|---|---|---|\n", rows)
}

// poolFlood sends n parallel GET /jobs, which share the bounded SQLite
// pool: all must be answered, within 3 descriptors per connection.
func poolFlood(t *testing.T, hc *http.Client, base, token string, attempts int) []string {
	peak := peakFDs()
	codes := make([]int, attempts)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range codes {
		wg.Go(func() {
			req, _ := http.NewRequest("GET", base+"/jobs", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := hc.Do(req)
			if err != nil {
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			codes[i] = resp.StatusCode
		})
	}
	wg.Wait()
	took := time.Since(start)
	peaked := peak()
	answered := counts{}
	for _, c := range codes {
		answered[fmt.Sprint(c)]++
	}
	bound := sqlite.MaxConns()
	t.Logf("%d parallel GET /jobs in %v: %v; at most %d descriptors on the database (pool of %d connections)",
		attempts, took.Round(time.Millisecond), answered, peaked.db, bound)
	if answered["200"] != attempts {
		t.Errorf("%d parallel GET /jobs: %v, want all 200", attempts, answered)
	}
	if peaked.db > 3*bound {
		t.Errorf("%d descriptors on the database, over 3 for each of %d connections", peaked.db, bound)
	}
	return []string{fmt.Sprintf("%d parallel GET /jobs", attempts), answered.String(),
		fmt.Sprintf("at most %d descriptors on mp3converter.db (pool of %d) in %v", peaked.db, bound, took.Round(time.Millisecond))}
}

// TestEventStreamBody: GET /jobs/events with a request body is refused
// with 400 before any stream starts, and the connection is closed at once,
// even when the body never comes.
func TestEventStreamBody(t *testing.T) {
	srv := startServe(t, testConfig(t))
	srv.addUser(t, "ann@example.com", "ann-password", false)
	ann := login(t, srv.URL, "ann@example.com", "ann-password")
	resp, b := do(t, ann.request("GET", "/jobs/events", strings.NewReader("x")))
	if resp.StatusCode != http.StatusBadRequest || strings.TrimSpace(string(b)) != "GET /jobs/events takes no request body" {
		t.Errorf("GET /jobs/events with a body: %s %q", resp.Status, b)
	}

	// A body announced and never sent, as the attacker held streams.
	conn, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	fmt.Fprintf(conn, "GET /jobs/events HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Length: 100000\r\n\r\n", srv.Addr, ann.token)
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(conn)
	raw, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatalf("no answer to a stream request whose body never comes: %v", err)
	}
	io.Copy(io.Discard, raw.Body)
	raw.Body.Close()
	_, err = r.ReadByte() // the server closes the connection
	t.Logf("a body announced, never sent: %s, connection closed %v after %v (%v)", raw.Status, raw.Close, time.Since(start).Round(time.Millisecond), err)
	if raw.StatusCode != http.StatusBadRequest || !raw.Close || err != io.EOF {
		t.Errorf("a body announced, never sent: %s, then %v; want 400 and the connection closed", raw.Status, err)
	}
}
