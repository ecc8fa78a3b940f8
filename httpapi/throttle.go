package httpapi

import (
	"context"
	"math"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/internal/memory"
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
// holds whole. The failures are counted in Limits, which every gateway
// shares; a limit of 0 is no limit.
type Throttle struct {
	PerAccount    int           // failures allowed per (account, client address) in Window (5)
	PerAddress    int           // failures allowed per client address in Window (20)
	PerAccountAll int           // failures allowed per account from clients without its device cookie, in Window (10)
	PerAccountDay int           // the same, in a day (50)
	PerDevice     int           // failures allowed per device cookie in Window (5)
	Window        time.Duration // 15 minutes
	// Checks and ChecksPerAccount bound the password checks running at once,
	// in all and for one account (defaults: 2 per CPU, and 2): per process,
	// since they spare its CPUs.
	Checks           int
	ChecksPerAccount int
	// Limits keeps the failures where every gateway and auth process sees
	// them (the job store's database); nil: this process's memory.
	Limits mp3converter.Limits
	// Scope sets the keys of one layer apart ("gateway", "auth"), so
	// that a login through a gateway to auth is counted once by each
	// layer, not twice by one.
	Scope string
	Now   func() time.Time

	once     sync.Once
	mu       sync.Mutex
	inFlight map[string]int // password checks running, by account
	running  int
	freed    chan struct{} // closed and replaced when a check ends
}

// NewThrottle returns a throttle with the defaults, for the layer scope,
// counting in limits (nil: this process's memory).
func NewThrottle(scope string, limits mp3converter.Limits) *Throttle {
	return &Throttle{PerAccount: 5, PerAddress: 20, PerAccountAll: 10, PerAccountDay: 50, PerDevice: 5,
		Window: 15 * time.Minute, Checks: 2 * runtime.NumCPU(), ChecksPerAccount: 2, Limits: limits, Scope: scope}
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

// Reserve counts an attempt against keys as a failure before it is tried,
// and returns it. When a key is at its limit it reserves nothing and
// returns how long to wait. A failed attempt needs nothing more; see
// Attempt for the other outcomes. Its error is the Limits store's.
func (t *Throttle) Reserve(ctx context.Context, keys ...string) (*Attempt, time.Duration, error) {
	lk := make([]mp3converter.LimitKey, len(keys))
	for i, k := range keys {
		n, window := t.limit(k)
		lk[i] = mp3converter.LimitKey{Key: t.Scope + "/" + k, Limit: n, Window: window}
	}
	id, wait, err := t.limits().Reserve(ctx, t.now(), lk)
	if err != nil || wait > 0 {
		return nil, wait, err
	}
	return &Attempt{t: t, id: id}, 0, nil
}

// limits is where the counts are kept: Limits, or this process's memory.
func (t *Throttle) limits() mp3converter.Limits {
	t.once.Do(func() {
		if t.Limits == nil {
			t.Limits = memory.NewLimits()
		}
	})
	return t.Limits
}

// Attempt is a reserved login attempt.
type Attempt struct {
	t  *Throttle
	id string
}

// Cancel takes the reservation back: the password was never checked.
func (a *Attempt) Cancel() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a.t.Limits.Release(ctx, a.id) // lost if the store is down: counted as a failure
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
