package httpapi

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mp3converter/mp3converter"
)

// What one client may hold. Every listener of a process (the API, health
// checks, metrics) is served by NewServer over a ClientLimit's listener:
//
//   - headers must arrive within ReadHeaderTimeout, and a request body
//     within ServerLimits.BodyTimeout, whole; an upload instead pushes its
//     own deadline before each read (see bodyReader);
//   - an answer given before the body was read closes the connection, and
//     the rest of the body gets drainTime to arrive: Go's server would
//     otherwise wait for up to 256 KiB of it, with no deadline;
//   - a client address holds at most PerClient connections, and the
//     process at most Total, so that one client cannot use every
//     descriptor.

// ServerLimits are the timeouts every HTTP server of a process shares.
type ServerLimits struct {
	// BodyTimeout is how long a request body other than an upload's may
	// take to arrive, whole (10 s if 0).
	BodyTimeout time.Duration
	Logger      *slog.Logger
}

// NewServer returns an HTTP server for h with the limits above.
func NewServer(h http.Handler, l ServerLimits) *http.Server {
	log := l.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &http.Server{
		Handler:           guardBody(h, cmpOr(l.BodyTimeout, 10*time.Second)),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

func cmpOr[T int | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

// drainTime is how long the rest of a body is read after an answer given
// before it was.
const drainTime = time.Second

// guardBody gives r's body, if it has one, timeout to arrive whole. An
// answer written before the body was read to its end says
// "Connection: close", and once h returns such a body is waited for
// drainTime at most.
func guardBody(h http.Handler, timeout time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			h.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		rc.SetReadDeadline(time.Now().Add(timeout))
		orig := r.Body
		b := &guardedBody{ReadCloser: orig, rc: rc}
		r.Body = b
		defer func() {
			// The server looks at its own body type to see that the
			// client still sends: then it half-closes and waits before
			// the close, so that the client reads the answer rather than
			// a reset.
			r.Body = orig
			switch {
			case b.failed.Load():
				rc.SetReadDeadline(time.Now()) // it had its time: the deadline passed
			case !b.eof.Load():
				// The server reads up to 256 KiB of what is left before it
				// closes the connection, with no deadline of its own: a
				// client that sends its body briskly then reads the answer
				// rather than a broken pipe; one that holds it back waits
				// drainTime at most.
				rc.SetReadDeadline(time.Now().Add(drainTime))
			}
		}()
		h.ServeHTTP(&closeUnread{ResponseWriter: w, body: b}, r)
	})
}

// errBodyTooSlow answers a request whose body did not arrive in time.
var errBodyTooSlow = mp3converter.Errorf(mp3converter.ETIMEOUT, "the request body was too slow to arrive")

// guardedBody notes when a request body has been read to its end, and then
// lifts the deadline: the server's own read, which watches for the client
// going away, would otherwise cancel the request when it passed.
type guardedBody struct {
	io.ReadCloser
	rc     *http.ResponseController
	eof    atomic.Bool
	failed atomic.Bool // a read failed: the deadline passed, say
}

func (b *guardedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	switch {
	case errors.Is(err, io.EOF):
		if !b.eof.Swap(true) {
			b.rc.SetReadDeadline(time.Time{})
		}
	case err != nil:
		b.failed.Store(true)
	}
	return n, err
}

// closeUnread closes the connection after an answer given before the
// request's body was read to its end (a 401, 413 or 429, say).
type closeUnread struct {
	http.ResponseWriter
	body  *guardedBody
	wrote bool
}

func (c *closeUnread) WriteHeader(code int) {
	if !c.wrote && code >= 200 {
		c.wrote = true
		if !c.body.eof.Load() {
			c.Header().Set("Connection", "close")
		}
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *closeUnread) Write(p []byte) (int, error) {
	if !c.wrote {
		c.WriteHeader(http.StatusOK)
	}
	return c.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection.
func (c *closeUnread) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// ClientLimit caps the connections each client address holds, and those of
// the process in all. IPv6 clients count by their /64, which one host or
// home usually holds whole. A trusted proxy carries many clients: its
// connections count only toward Total, and its requests in progress count
// by the client address it forwards (Handler). Counts live in memory: with
// several gateways, each caps its own connections. The zero value has no
// caps.
type ClientLimit struct {
	PerClient int // connections, or requests in progress behind a proxy, per client; 0: no cap
	Total     int // connections in all; 0: no cap
	Proxies   Proxies
	Logger    *slog.Logger

	mu       sync.Mutex
	total    int
	byClient map[netip.Prefix]int // connections
	requests map[netip.Prefix]int // requests in progress through proxies
	refused  atomic.Int64         // connections refused, for the log
	// lingering counts refused connections still being read (refuse).
	lingering atomic.Int64
}

// clientKey is the prefix a client address counts by: the address itself,
// or its /64 for IPv6.
func clientKey(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p
	}
	return netip.PrefixFrom(a, 32)
}

// Listen returns ln with the caps applied at accept: a connection over a
// cap is answered 429 at once and closed, and holds nothing.
func (l *ClientLimit) Listen(ln net.Listener) net.Listener {
	return &limitedListener{Listener: ln, l: l}
}

type limitedListener struct {
	net.Listener
	l *ClientLimit
}

// tooManyConns is the whole answer to a connection over a cap.
var tooManyConns = func() string {
	const body = "too many connections; try again shortly\n"
	return "HTTP/1.1 429 Too Many Requests\r\nConnection: close\r\nRetry-After: 5\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
}()

func (ll *limitedListener) Accept() (net.Conn, error) {
	for {
		c, err := ll.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if release, ok := ll.l.admitConn(c.RemoteAddr()); ok {
			return &countedConn{Conn: c, release: release}, nil
		}
		ll.l.refuse(c)
		if n := ll.l.refused.Add(1); n&(n-1) == 0 { // 1, 2, 4, 8...: a flood logs a few lines
			ll.l.log().Warn("ConnectionsRefused", "client", c.RemoteAddr().String(), "refused", n)
		}
	}
}

// Refused connections may linger this long, this many at once.
const (
	lingerTime   = 250 * time.Millisecond
	maxLingering = 64
)

// refuse answers c 429 and closes it. A socket closed with input unread is
// reset, and the client may lose the answer with it: so c's input is read
// and dropped for up to lingerTime first, by at most maxLingering
// goroutines at once; past that, c is closed at once.
func (l *ClientLimit) refuse(c net.Conn) {
	// A fresh socket's send buffer takes this without blocking.
	c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	io.WriteString(c, tooManyConns)
	tc, ok := c.(*net.TCPConn)
	if !ok || l.lingering.Add(1) > maxLingering {
		l.lingering.Add(-1)
		c.Close()
		return
	}
	go func() {
		defer l.lingering.Add(-1)
		tc.CloseWrite()
		tc.SetReadDeadline(time.Now().Add(lingerTime))
		io.Copy(io.Discard, io.LimitReader(tc, 64<<10))
		tc.Close()
	}()
}

func (l *ClientLimit) log() *slog.Logger {
	if l.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l.Logger
}

// admitConn counts a connection from addr, unless a cap refuses it, and
// returns the func that uncounts it.
func (l *ClientLimit) admitConn(addr net.Addr) (release func(), ok bool) {
	var key netip.Prefix
	perClient := l.PerClient > 0
	if ap, err := netip.ParseAddrPort(addr.String()); err == nil {
		key = clientKey(ap.Addr())
		perClient = perClient && !l.Proxies.trusts(ap.Addr())
	} else {
		perClient = false // not TCP: a test's pipe, say
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.Total > 0 && l.total >= l.Total || perClient && l.byClient[key] >= l.PerClient {
		return nil, false
	}
	l.total++
	if perClient {
		if l.byClient == nil {
			l.byClient = map[netip.Prefix]int{}
		}
		l.byClient[key]++
	}
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.total--
		if perClient {
			if l.byClient[key]--; l.byClient[key] <= 0 {
				delete(l.byClient, key)
			}
		}
	}, true
}

// countedConn uncounts itself once, when closed.
type countedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *countedConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}

// CloseWrite lets the server half-close the connection, as it does after
// an answer that leaves input unread, so that the client reads the answer
// rather than a reset.
func (c *countedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// errTooManyRequests refuses a request from a client, behind a proxy, that
// has PerClient requests in progress.
var errTooManyRequests = &retryAfterError{
	err:   mp3converter.Errorf(mp3converter.ETOOMANY, "too many requests in progress from your address; try again shortly"),
	after: 5 * time.Second,
}

// Handler caps the requests in progress of each client that reaches h
// through a trusted proxy, by the address the proxy forwards; a client's
// own connections are capped at the listener.
func (l *ClientLimit) Handler(h http.Handler) http.Handler {
	if l == nil || l.PerClient <= 0 || len(l.Proxies) == 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !l.Proxies.trustsPeer(r) {
			h.ServeHTTP(w, r)
			return
		}
		a, err := netip.ParseAddr(l.Proxies.ClientAddr(r))
		if err != nil {
			h.ServeHTTP(w, r)
			return
		}
		key := clientKey(a)
		l.mu.Lock()
		if l.requests[key] >= l.PerClient {
			l.mu.Unlock()
			w.Header().Set("Connection", "close")
			Error(w, r, l.log(), errTooManyRequests)
			return
		}
		if l.requests == nil {
			l.requests = map[netip.Prefix]int{}
		}
		l.requests[key]++
		l.mu.Unlock()
		defer func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			if l.requests[key]--; l.requests[key] <= 0 {
				delete(l.requests, key)
			}
		}()
		h.ServeHTTP(w, r)
	})
}
