package httpapi

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"testing"
)

type tcpAddr string

func (a tcpAddr) Network() string { return "tcp" }
func (a tcpAddr) String() string  { return string(a) }

// A client's connections are capped by its address, an IPv6 client's by
// its /64; a trusted proxy's only by the total, its clients' requests by
// the address it forwards.
func TestClientLimit(t *testing.T) {
	proxies, _ := ParseProxies("10.0.0.1")
	l := &ClientLimit{PerClient: 2, Total: 7, Proxies: proxies}
	admit := func(addr string) (func(), bool) { return l.admitConn(tcpAddr(addr)) }
	for _, c := range []struct {
		addr string
		ok   bool
	}{
		{"192.0.2.1:1000", true}, {"192.0.2.1:1001", true}, {"192.0.2.1:1002", false},
		{"192.0.2.2:1000", true},
		{"[2001:db8:1:2::1]:1000", true}, {"[2001:db8:1:2:ffff::9]:1000", true}, {"[2001:db8:1:2::3]:1000", false}, // one /64
		{"10.0.0.1:1000", true}, {"10.0.0.1:1001", true}, // the proxy: total only
		{"192.0.2.3:1000", false}, // 7 in all
	} {
		if _, ok := admit(c.addr); ok != c.ok {
			t.Errorf("connection from %s admitted %v, want %v", c.addr, ok, c.ok)
		}
	}

	// Requests through the proxy count by the forwarded address.
	block := make(chan struct{})
	h := l.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	req := func(fwd string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = "10.0.0.1:5000"
		r.Header.Set("X-Forwarded-For", fwd)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	done := make(chan struct{})
	for range 2 {
		go func() { req("198.51.100.7"); done <- struct{}{} }()
	}
	waitFor := func() {
		for {
			l.mu.Lock()
			n := l.requests[clientKey(netip.MustParseAddr("198.51.100.7"))]
			l.mu.Unlock()
			if n == 2 {
				return
			}
			runtime.Gosched()
		}
	}
	waitFor()
	if w := req("198.51.100.7"); w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" || w.Header().Get("Connection") != "close" {
		t.Errorf("a third request in progress through the proxy: %d %v", w.Code, w.Header())
	}
	close(block)
	<-done
	<-done
	if w := req("198.51.100.7"); w.Code != http.StatusOK {
		t.Errorf("after the two ended: %d", w.Code)
	}
}

// An answer given before a large body was read reaches a client that sends
// the body briskly: the server half-closes and waits, as Go's own server
// does for its own body type, instead of closing under the client's writes,
// which resets the connection and loses the answer (seen as "connection
// reset by peer" on a 507 before an upload was read).
func TestEarlyAnswerNotReset(t *testing.T) {
	srv := httptest.NewUnstartedServer(nil)
	srv.Config = NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusUnauthorized)
	}), ServerLimits{})
	srv.Start()
	defer srv.Close()
	body := make([]byte, 8<<20)
	for i := range 20 {
		resp, err := http.Post(srv.URL, "application/octet-stream", bytes.NewReader(body))
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("request %d: %s", i, resp.Status)
		}
	}
}
