package httpapi

import (
	"context"
	"math"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mp3converter/mp3converter"
)

// Throttle limits password checks. An attempt is reserved before its
// password is checked, so parallel attempts cannot all slip past the count:
//
//   - per account and client address: a few failures per quarter hour, so
//     that a stranger guessing from elsewhere cannot lock the owner out;
//   - per client address: a client spraying many accounts is stopped;
//   - per account, from every address: a budget per quarter hour and per
//     day, shared by every client without a device cookie of the account
//     (see Devices), so that guesses spread over many addresses are
//     bounded too, while the owner's own browser or CLI still gets in;
//   - per device cookie: a few failures per quarter hour;
//   - at most a few checks run at once per account and in all, so that a
//     flood of guesses neither uses every core nor delays everyone's login.
//
// Client addresses count by their /64 for IPv6, which one host usually
// holds whole. Counts live in memory, per process. A limit of 0 is no
// limit.
type Throttle struct {
	PerAccount    int           // failures allowed per (account, client address) in Window (5)
	PerAddress    int           // failures allowed per client address in Window (20)
	PerAccountAll int           // failures allowed per account from clients without its device cookie, in Window (10)
	PerAccountDay int           // the same, in a day (50)
	PerDevice     int           // failures allowed per device cookie in Window (5)
	Window        time.Duration // 15 minutes
	// Checks and ChecksPerAccount bound the password checks running at once,
	// in all and for one account (defaults: 2 per CPU, and 2).
	Checks           int
	ChecksPerAccount int
	Now              func() time.Time

	mu       sync.Mutex
	failures map[string][]time.Time
	inFlight map[string]int // password checks running, by account
	running  int
	freed    chan struct{} // closed and replaced when a check ends
}

// NewThrottle returns a throttle with the defaults.
func NewThrottle() *Throttle {
	return &Throttle{PerAccount: 5, PerAddress: 20, PerAccountAll: 10, PerAccountDay: 50, PerDevice: 5,
		Window: 15 * time.Minute, Checks: 2 * runtime.NumCPU(), ChecksPerAccount: 2}
}

// LoginKeys are the keys a login attempt counts against: device, the id of
// a valid device cookie of the account, or "" for a client without one.
func LoginKeys(account, addr, device string) []string {
	if device != "" {
		return []string{"device:" + device}
	}
	client := addr
	if a, err := netip.ParseAddr(addr); err == nil {
		client = clientKey(a).String()
	}
	return []string{"login:" + account + "|" + client, "addr:" + client, "acct:" + account, "day:" + account}
}

func (t *Throttle) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

// limit is how many failures key may have in its window.
func (t *Throttle) limit(key string) (n int, window time.Duration) {
	kind, _, _ := strings.Cut(key, ":")
	switch kind {
	case "addr":
		return t.PerAddress, t.Window
	case "acct":
		return t.PerAccountAll, t.Window
	case "day":
		return t.PerAccountDay, 24 * time.Hour
	case "device":
		return t.PerDevice, t.Window
	}
	return t.PerAccount, t.Window
}

// recent drops failures older than key's window; callers hold mu.
func (t *Throttle) recent(key string, now time.Time) []time.Time {
	_, window := t.limit(key)
	fs := t.failures[key]
	i := 0
	for i < len(fs) && now.Sub(fs[i]) >= window {
		i++
	}
	fs = fs[i:]
	if len(fs) == 0 {
		delete(t.failures, key)
	} else {
		t.failures[key] = fs
	}
	return fs
}

// wait is how long until keys may try again; callers hold mu.
func (t *Throttle) wait(now time.Time, keys []string) time.Duration {
	var wait time.Duration
	for _, k := range keys {
		fs := t.recent(k, now)
		if n, window := t.limit(k); n > 0 && len(fs) >= n {
			// Free again when enough failures have left the window.
			wait = max(wait, fs[len(fs)-n].Add(window).Sub(now))
		}
	}
	return wait
}

// Reserve counts an attempt against keys as a failure before it is tried,
// and returns it. When a key is at its limit it reserves nothing and
// returns how long to wait. A failed attempt needs nothing more; see
// Attempt for the other outcomes.
func (t *Throttle) Reserve(keys ...string) (*Attempt, time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.failures == nil {
		t.failures = map[string][]time.Time{}
	}
	now := t.now()
	if len(t.failures) > 100_000 { // bound memory under a spray of keys
		for k := range t.failures {
			t.recent(k, now)
		}
	}
	if w := t.wait(now, keys); w > 0 {
		return nil, w
	}
	for _, k := range keys {
		t.failures[k] = append(t.failures[k], now)
	}
	return &Attempt{t: t, keys: keys, at: now}, 0
}

// Attempt is a reserved login attempt.
type Attempt struct {
	t    *Throttle
	keys []string
	at   time.Time
}

// Cancel takes the reservation back: the password was never checked.
func (a *Attempt) Cancel() {
	a.t.mu.Lock()
	defer a.t.mu.Unlock()
	for _, k := range a.keys {
		if fs := a.t.failures[k]; slices.Contains(fs, a.at) {
			a.t.failures[k] = slices.Delete(fs, slices.Index(fs, a.at), slices.Index(fs, a.at)+1)
		}
	}
}

// Succeeded takes the reservation back. Earlier failures stay until they
// leave the window: clearing them would let a burst that holds one right
// password check a second round of guesses.
func (a *Attempt) Succeeded() { a.Cancel() }

// Check waits for a turn to check a password of account, within the caps
// on checks running at once, and returns the func that ends the turn. It
// returns ctx's error if the client gives up first.
func (t *Throttle) Check(ctx context.Context, account string) (end func(), err error) {
	t.mu.Lock()
	for t.running >= max(t.Checks, 1) || t.inFlight[account] >= max(t.ChecksPerAccount, 1) {
		if t.freed == nil {
			t.freed = make(chan struct{})
		}
		freed := t.freed
		t.mu.Unlock()
		select {
		case <-freed:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		t.mu.Lock()
	}
	if t.inFlight == nil {
		t.inFlight = map[string]int{}
	}
	t.running++
	t.inFlight[account]++
	t.mu.Unlock()
	return func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		t.running--
		if t.inFlight[account]--; t.inFlight[account] <= 0 {
			delete(t.inFlight, account)
		}
		if t.freed != nil {
			close(t.freed)
			t.freed = nil
		}
	}, nil
}

// retryAfterError is a refusal that says when to try again.
type retryAfterError struct {
	err   *mp3converter.Error
	after time.Duration
}

func (e *retryAfterError) Error() string { return e.err.Error() }
func (e *retryAfterError) Unwrap() error { return e.err }

func tooMany(after time.Duration) error {
	secs := int(math.Ceil(after.Seconds()))
	return &retryAfterError{
		err:   mp3converter.Errorf(mp3converter.ETOOMANY, "too many failed logins; try again in %d seconds", secs),
		after: after,
	}
}

// Proxies are the addresses whose X-Forwarded-For is believed: the
// ingress in front of the gateway, the gateway in front of auth.
type Proxies []netip.Prefix

// ParseProxies reads a comma-separated list of CIDRs or addresses.
func ParseProxies(s string) (Proxies, error) {
	var out Proxies
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, err
			}
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, err
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func (p Proxies) trusts(a netip.Addr) bool {
	for _, pre := range p {
		if pre.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

// ClientAddr returns the address of the client that made r: the peer, or,
// when the peer is a trusted proxy, the last untrusted address it forwarded.
func (p Proxies) ClientAddr(r *http.Request) string {
	host, peer, err := peerAddr(r)
	if err != nil || !p.trusts(peer) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		client = a.Unmap()
		if !p.trusts(client) {
			break
		}
	}
	return client.String()
}

// peerAddr returns the address of r's connection: as given, and parsed.
func peerAddr(r *http.Request) (string, netip.Addr, error) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	return host, a, err
}

// trustsPeer says whether r's connection comes from a trusted proxy.
func (p Proxies) trustsPeer(r *http.Request) bool {
	_, a, err := peerAddr(r)
	return err == nil && p.trusts(a)
}

type clientKeyCtx struct{}

type clientInfo struct {
	addr    string
	cookies []*http.Cookie
}

// withClient remembers the client's address and cookies for AuthClient,
// which forwards them to auth.
func withClient(ctx context.Context, addr string, cookies []*http.Cookie) context.Context {
	return context.WithValue(ctx, clientKeyCtx{}, clientInfo{addr, cookies})
}

func clientFrom(ctx context.Context) (addr string, cookies []*http.Cookie) {
	c, _ := ctx.Value(clientKeyCtx{}).(clientInfo)
	return c.addr, c.cookies
}
