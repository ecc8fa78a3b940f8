package httpapi

import (
	"context"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/mp3converter/mp3converter"
)

// Throttle counts failed logins by key (an account, a client address) and
// refuses further attempts once a key has too many failures in its window:
// password guessing gets a handful of tries per quarter hour, and a client
// spraying many accounts is stopped by its address. Counts live in memory,
// per process.
type Throttle struct {
	PerAccount int           // failures allowed per account in Window (5)
	PerAddress int           // failures allowed per client address in Window (20)
	Window     time.Duration // 15 minutes
	Now        func() time.Time

	mu       sync.Mutex
	failures map[string][]time.Time
}

// NewThrottle returns a throttle with the defaults.
func NewThrottle() *Throttle {
	return &Throttle{PerAccount: 5, PerAddress: 20, Window: 15 * time.Minute}
}

func (t *Throttle) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

func (t *Throttle) limit(key string) int {
	if strings.HasPrefix(key, "addr:") {
		return t.PerAddress
	}
	return t.PerAccount
}

// recent drops failures older than the window; callers hold mu.
func (t *Throttle) recent(key string, now time.Time) []time.Time {
	fs := t.failures[key]
	i := 0
	for i < len(fs) && now.Sub(fs[i]) >= t.Window {
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

// Wait returns how long until keys may try again; 0 if they may now.
func (t *Throttle) Wait(keys ...string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	var wait time.Duration
	for _, k := range keys {
		fs := t.recent(k, now)
		if n := t.limit(k); len(fs) >= n {
			// Free again when enough failures have left the window.
			wait = max(wait, fs[len(fs)-n].Add(t.Window).Sub(now))
		}
	}
	return wait
}

// Fail records a failed attempt for keys.
func (t *Throttle) Fail(keys ...string) {
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
	for _, k := range keys {
		fs := append(t.recent(k, now), now)
		if n := t.limit(k); len(fs) > n {
			fs = fs[len(fs)-n:]
		}
		t.failures[k] = fs
	}
}

// Forget clears a key's failures, after a successful login.
func (t *Throttle) Forget(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.failures, key)
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
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
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

type clientAddrKey struct{}

// withClientAddr remembers the client's address for AuthClient, which
// forwards it to auth.
func withClientAddr(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, clientAddrKey{}, addr)
}

func clientAddrFrom(ctx context.Context) string {
	s, _ := ctx.Value(clientAddrKey{}).(string)
	return s
}
