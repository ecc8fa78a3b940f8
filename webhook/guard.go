package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"syscall"
	"time"

	"code.dny.dev/ssrf"

	"github.com/mp3converter/mp3converter"
)

// Guard decides which addresses webhooks may reach: none that Refused
// names, unless AllowPrivate.
type Guard struct {
	// AllowPrivate lets webhooks reach any address: receivers on the
	// operator's own network, or tests on loopback.
	AllowPrivate bool
	// Resolver resolves host names; net.DefaultResolver if nil.
	Resolver resolver
}

// resolver is what Guard needs of a *net.Resolver.
type resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// MaxURLLength is the longest webhook URL accepted.
const MaxURLLength = 2048

// CheckURL checks raw as a webhook's URL: http or https, no user info or
// fragment, and, unless AllowPrivate, a host that is, or resolves only to,
// public addresses. Its error is EINVALID and says what is wrong.
func (g *Guard) CheckURL(ctx context.Context, raw string) error {
	u, err := url.Parse(raw)
	switch {
	case len(raw) > MaxURLLength:
		return invalid("the URL is longer than %d bytes", MaxURLLength)
	case err != nil || u.Opaque != "":
		return invalid("the URL is malformed")
	case u.Scheme != "http" && u.Scheme != "https":
		return invalid("the URL must start with http:// or https://")
	case u.User != nil:
		return invalid("the URL must not hold a user name or password")
	case u.Fragment != "" || u.RawFragment != "":
		return invalid("the URL must not have a #fragment")
	case u.Hostname() == "":
		return invalid("the URL has no host")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return invalid("the URL's port %q is not 1 to 65535", p)
		}
	}
	if g.AllowPrivate {
		return nil
	}
	host := u.Hostname()
	ips, err := g.resolve(ctx, host)
	if err != nil {
		return invalid("the URL's host %s does not resolve", host)
	}
	for _, ip := range ips {
		if reason := Refused(ip); reason != "" {
			if _, err := netip.ParseAddr(host); err == nil { // a literal, however spelt
				return invalid("the URL's host is a %s address; webhooks may reach public addresses only", reason)
			}
			return invalid("the URL's host %s resolves to %s, a %s address; webhooks may reach public addresses only", host, ip, reason)
		}
	}
	return nil
}

func invalid(format string, args ...any) error {
	return mp3converter.Errorf(mp3converter.EINVALID, "webhook URL refused: "+format, args...)
}

// resolve returns host's addresses: itself if it is an IP address.
func (g *Guard) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{ip}, nil
	}
	var r resolver = net.DefaultResolver
	if g.Resolver != nil {
		r = g.Resolver
	}
	ips, err := r.LookupNetIP(ctx, "ip", host)
	if err == nil && len(ips) == 0 {
		err = fmt.Errorf("no address for %s", host)
	}
	return ips, err
}

// ErrRefused is the error of a connection to an address webhooks may not
// reach.
var ErrRefused = errors.New("webhook target refused")

// control is the dialer's check of the address it is about to connect to,
// whatever name resolved to it: so a name that resolved to a public address
// when checked, and to a private one now, is refused.
func (g *Guard) control(network, address string, _ syscall.RawConn) error {
	if g.AllowPrivate {
		return nil
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: address %s", ErrRefused, address)
	}
	if reason := Refused(ap.Addr()); reason != "" {
		return fmt.Errorf("%w: %s is a %s address", ErrRefused, ap.Addr(), reason)
	}
	return nil
}

// Client returns the HTTP client that deliveries use: every connection
// passes control, no proxy (which would connect on our behalf), no
// redirects (the 3xx is the answer), and timeout for the whole exchange.
func (g *Guard) Client(timeout time.Duration) *http.Client {
	t := &http.Transport{
		Proxy:                  nil,
		DialContext:            g.dial(timeout),
		TLSHandshakeTimeout:    timeout,
		ResponseHeaderTimeout:  timeout,
		MaxIdleConns:           32,
		MaxIdleConnsPerHost:    4,
		IdleConnTimeout:        90 * time.Second,
		MaxResponseHeaderBytes: 64 << 10,
		ForceAttemptHTTP2:      true,
	}
	return &http.Client{Transport: t, Timeout: timeout, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
}

// dial resolves the host itself and dials each address in turn, each
// connection checked by control.
func (g *Guard) dial(timeout time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Control: g.control}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		p, err := strconv.ParseUint(port, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("port %q: %w", port, err)
		}
		ips, err := g.resolve(ctx, host)
		if err != nil {
			return nil, err
		}
		var errs []error
		for _, ip := range ips {
			c, err := d.DialContext(ctx, network, netip.AddrPortFrom(ip, uint16(p)).String())
			if err == nil {
				return c, nil
			}
			errs = append(errs, err)
		}
		return nil, errors.Join(errs...)
	}
}

// guardian refuses the prefixes of the IANA special-purpose registries, IPv4
// and IPv6, as code.dny.dev/ssrf generates them, and IPv6 outside 2000::/3;
// any port, since receivers choose theirs.
var guardian = ssrf.New(ssrf.WithAnyPort())

// Refused says why webhooks may not reach ip, or returns "" if they may:
// the name of a common class ("loopback", "private"...), else the
// special-purpose prefix that holds ip. The decision is guardian's, with an
// IPv4-mapped address (::ffff:a.b.c.d) taken as the IPv4 address it
// connects to: guardian alone would judge it as IPv6, and refuse it even
// when public.
func Refused(ip netip.Addr) string {
	ip = ip.Unmap()
	switch {
	case !ip.IsValid():
		return "invalid" // guardian would take the zero Addr for a public IPv4
	case guardian.SafeAddr(ip) == nil:
		return ""
	case ip.IsUnspecified():
		return "unspecified"
	case ip.IsLoopback():
		return "loopback"
	case ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast():
		return "link-local"
	case ip.IsMulticast():
		return "multicast"
	case ip.IsPrivate():
		return "private"
	case ip.Zone() != "":
		return "zoned" // no prefix holds a zoned address: guardian refuses them all
	case ip.Is6() && !ssrf.IPv6GlobalUnicast.Contains(ip):
		return "non-global (outside " + ssrf.IPv6GlobalUnicast.String() + ")"
	}
	for _, p := range slices.Concat(ssrf.IPv4DeniedPrefixes, ssrf.IPv6DeniedPrefixes) {
		if p.Contains(ip) {
			return "special-purpose (" + p.String() + ")"
		}
	}
	return "special-purpose"
}
