package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"syscall"
	"time"

	"github.com/mp3converter/mp3converter"
)

// Guard decides which addresses webhooks may reach: public unicast ones
// only, unless AllowPrivate.
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
			if ip.String() == host {
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

// nonPublic are ranges that are neither private nor loopback nor
// link-local by net/netip's reckoning, yet not the public Internet.
var nonPublic = []struct {
	prefix netip.Prefix
	name   string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "this-network"},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared (carrier-grade NAT)"},
	{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol"},
	{netip.MustParsePrefix("192.0.2.0/24"), "documentation"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking"},
	{netip.MustParsePrefix("198.51.100.0/24"), "documentation"},
	{netip.MustParsePrefix("203.0.113.0/24"), "documentation"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"}, // and 255.255.255.255
	{netip.MustParsePrefix("::/96"), "IPv4-compatible"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "local NAT64"},
	{netip.MustParsePrefix("100::/64"), "discard"},
	{netip.MustParsePrefix("2001::/32"), "Teredo"},
	{netip.MustParsePrefix("2001:db8::/32"), "documentation"},
	{netip.MustParsePrefix("3fff::/20"), "documentation"},
	{netip.MustParsePrefix("fec0::/10"), "site-local"},
}

var (
	nat64  = netip.MustParsePrefix("64:ff9b::/96")
	sixTo4 = netip.MustParsePrefix("2002::/16")
)

// Refused says why webhooks may not reach ip ("loopback", "private"...),
// or returns "" if they may. An IPv6 address that carries an IPv4 one
// (IPv4-mapped, NAT64, 6to4) is judged by that.
func Refused(ip netip.Addr) string {
	ip = ip.Unmap()
	switch {
	case !ip.IsValid():
		return "invalid"
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
	}
	for _, r := range nonPublic {
		if r.prefix.Contains(ip) {
			return r.name
		}
	}
	b := ip.As16()
	switch {
	case nat64.Contains(ip):
		return Refused(netip.AddrFrom4([4]byte(b[12:16])))
	case sixTo4.Contains(ip):
		return Refused(netip.AddrFrom4([4]byte(b[2:6])))
	case !ip.IsGlobalUnicast():
		return "non-unicast"
	}
	return ""
}
