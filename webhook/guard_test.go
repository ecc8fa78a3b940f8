package webhook

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/mp3converter/mp3converter"
)

func TestSignStandardWebhooksVector(t *testing.T) {
	// The specification's published test vector.
	got, err := Sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`))
	if err != nil || got != "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=" {
		t.Errorf("Sign = %q, %v", got, err)
	}
	if s := NewSecret(); !strings.HasPrefix(s, "whsec_") || len(s) != len("whsec_")+44 {
		t.Errorf("NewSecret = %q", s)
	}
}

// TestRefused: each address gets the same answer from Refused, from
// CheckURL (as the URL's host, and as a name's answer) and from the
// dialer's check of the address it connects to.
func TestRefused(t *testing.T) {
	for _, tt := range []struct{ ip, reason string }{
		{"127.0.0.1", "loopback"},
		{"127.255.0.9", "loopback"},
		{"::1", "loopback"},
		{"::ffff:127.0.0.1", "loopback"},
		{"10.1.2.3", "private"},
		{"172.16.0.1", "private"},
		{"192.168.1.1", "private"},
		{"::ffff:192.168.1.1", "private"},
		{"fd00::1", "private"},
		{"169.254.169.254", "link-local"}, // cloud metadata
		{"fe80::1", "link-local"},
		{"0.0.0.0", "unspecified"},
		{"::", "unspecified"},
		{"0.1.2.3", "special-purpose (0.0.0.0/8)"},
		{"224.0.0.1", "link-local"}, // link-local multicast
		{"239.1.2.3", "multicast"},
		{"ff0e::1", "multicast"},
		{"255.255.255.255", "special-purpose (240.0.0.0/4)"},
		{"100.64.0.1", "special-purpose (100.64.0.0/10)"}, // carrier-grade NAT
		{"100.127.255.254", "special-purpose (100.64.0.0/10)"},
		{"198.18.0.1", "special-purpose (198.18.0.0/15)"},
		{"192.0.0.8", "special-purpose (192.0.0.0/24)"},
		{"2001:db8::1", "special-purpose (2001:db8::/32)"},
		{"::127.0.0.1", "non-global (outside 2000::/3)"},       // IPv4-compatible
		{"64:ff9b::7f00:1", "non-global (outside 2000::/3)"},   // NAT64 of 127.0.0.1
		{"64:ff9b::a00:1", "non-global (outside 2000::/3)"},    // NAT64 of 10.0.0.1
		{"64:ff9b::808:808", "non-global (outside 2000::/3)"},  // NAT64 of 8.8.8.8: refused too
		{"2002:c0a8:101::1", "special-purpose (2002::/16)"},    // 6to4 of 192.168.1.1
		{"2001:0:4136:e378::1", "special-purpose (2001::/23)"}, // Teredo
		{"fec0::1", "non-global (outside 2000::/3)"},           // site-local
		// Accepted by the hand-written list this replaced:
		{"::ffff:0:127.0.0.1", "non-global (outside 2000::/3)"}, // IPv4-translated
		{"::ffff:0:a9fe:a9fe", "non-global (outside 2000::/3)"}, // 169.254.169.254 translated
		{"5f00::1", "non-global (outside 2000::/3)"},            // SRv6 SIDs
		{"2001:2::1", "special-purpose (2001::/23)"},            // benchmarking
		{"2001:10::1", "special-purpose (2001::/23)"},           // ORCHID
		{"2001:20::1", "special-purpose (2001::/23)"},           // ORCHIDv2
		{"93.184.216.34", ""},
		{"100.128.0.1", ""},
		{"8.8.8.8", ""},
		{"::ffff:8.8.8.8", ""},
		{"2606:4700::1111", ""},
	} {
		ip := netip.MustParseAddr(tt.ip)
		if got := Refused(ip); got != tt.reason {
			t.Errorf("Refused(%s) = %q, want %q", tt.ip, got, tt.reason)
		}
		g := &Guard{Resolver: &fakeResolver{answers: map[string][][]netip.Addr{"hooks.example.com": {{ip}}}}}
		for _, url := range []string{"http://" + net.JoinHostPort(tt.ip, "8080") + "/", "http://hooks.example.com/"} {
			err := g.CheckURL(context.Background(), url)
			if want := "a " + tt.reason + " address"; tt.reason != "" && (err == nil || !strings.Contains(err.Error(), want)) {
				t.Errorf("CheckURL(%s) with %s = %v, want an error with %q", url, tt.ip, err, want)
			} else if tt.reason == "" && err != nil {
				t.Errorf("CheckURL(%s) with %s = %v", url, tt.ip, err)
			}
		}
		// Called as the dialer calls it, between socket and connect, but
		// without a socket: a real dial wrongly let through would send
		// packets off this machine.
		network := "tcp6"
		if ip.Unmap().Is4() {
			network = "tcp4"
		}
		err := g.control(network, netip.AddrPortFrom(ip, 443).String(), nil)
		if tt.reason != "" && !errors.Is(err, ErrRefused) {
			t.Errorf("control(%s) = %v, want ErrRefused", tt.ip, err)
		} else if tt.reason == "" && err != nil {
			t.Errorf("control(%s) = %v", tt.ip, err)
		}
	}
}

// fakeResolver answers from a table, and counts its lookups.
type fakeResolver struct {
	answers map[string][][]netip.Addr // successive answers per host; the last repeats
	calls   atomic.Int32
}

func (f *fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	n := int(f.calls.Add(1)) - 1
	a, ok := f.answers[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return a[min(n, len(a)-1)], nil
}

func addrs(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

func TestCheckURL(t *testing.T) {
	g := &Guard{Resolver: &fakeResolver{answers: map[string][][]netip.Addr{
		"hooks.example.com": {addrs("93.184.216.34")},
		"mixed.example.com": {addrs("93.184.216.34", "10.0.0.7")},
		"localhost":         {addrs("127.0.0.1", "::1")},
	}}}
	for _, tt := range []struct{ url, want string }{
		{"https://hooks.example.com/in", ""},
		{"http://hooks.example.com:8443/in?x=1", ""},
		{"https://93.184.216.34/", ""},
		{"ftp://hooks.example.com/", "http:// or https://"},
		{"hooks.example.com/in", "http:// or https://"},
		{"https://user:pw@hooks.example.com/", "user name or password"},
		{"https://hooks.example.com/#x", "fragment"},
		{"https:///path", "no host"},
		{"https://hooks.example.com:0/", "port"},
		{"http://127.0.0.1:8080/", "loopback"},
		{"http://[::1]/", "loopback"},
		{"http://[::ffff:127.0.0.1]/", "loopback"},
		{"http://169.254.169.254/latest/meta-data/", "link-local"},
		{"http://10.0.0.1/", "private"},
		{"http://100.64.1.1/", "special-purpose (100.64.0.0/10)"},
		{"http://0.0.0.0/", "unspecified"},
		{"http://[fe80::1%25eth0]/", "link-local"},
		{"http://[2606:4700::1111%25eth0]/", "zoned"},
		{"http://localhost:9000/", "localhost resolves to 127.0.0.1, a loopback address"},
		{"http://mixed.example.com/", "resolves to 10.0.0.7, a private address"},
		{"http://nowhere.example.com/", "does not resolve"},
		{"https://hooks.example.com/" + strings.Repeat("a", MaxURLLength), "longer than"},
	} {
		err := g.CheckURL(context.Background(), tt.url)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("CheckURL(%s) = %v", tt.url, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("CheckURL(%.60s) = %v, want an error with %q", tt.url, err, tt.want)
		case err != nil && mp3converter.ErrorCode(err) != mp3converter.EINVALID:
			t.Errorf("CheckURL(%s): code %s, want EINVALID", tt.url, mp3converter.ErrorCode(err))
		}
	}
	allow := &Guard{AllowPrivate: true}
	if err := allow.CheckURL(context.Background(), "http://127.0.0.1:8080/hook"); err != nil {
		t.Errorf("with AllowPrivate: %v", err)
	}
	if err := allow.CheckURL(context.Background(), "file:///etc/passwd"); err == nil {
		t.Error("AllowPrivate let a file: URL through")
	}
}

// TestDialCatchesRebinding: a name that resolved to a public address when
// it was registered and resolves to loopback when the delivery connects is
// refused by the dialer's check of the address it connects to.
func TestDialCatchesRebinding(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	res := &fakeResolver{answers: map[string][][]netip.Addr{"rebind.example.com": {addrs("93.184.216.34"), addrs("127.0.0.1")}}}
	g := &Guard{Resolver: res}
	url := "http://rebind.example.com:" + strconv.Itoa(port) + "/hook"
	if err := g.CheckURL(context.Background(), url); err != nil {
		t.Fatalf("at registration: %v", err)
	}
	resp, err := g.Client(Timeout).Post(url, "application/json", strings.NewReader("{}"))
	if err == nil {
		resp.Body.Close()
		t.Fatalf("the rebound name was reached: %s", resp.Status)
	}
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "127.0.0.1 is a loopback address") {
		t.Errorf("error %v, want ErrRefused naming the loopback address", err)
	}
	if hits.Load() != 0 || res.calls.Load() != 2 {
		t.Errorf("receiver hit %d times, %d lookups", hits.Load(), res.calls.Load())
	}
}

// TestControlRefusesPrivate: the dialer's check itself, on real sockets.
func TestControlRefusesPrivate(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	d := &net.Dialer{Control: (&Guard{}).control}
	if c, err := d.Dial("tcp", ln.Addr().String()); err == nil {
		c.Close()
		t.Error("connected to loopback")
	} else if !errors.Is(err, ErrRefused) {
		t.Errorf("error %v, want ErrRefused", err)
	}
	d.Control = (&Guard{AllowPrivate: true}).control
	c, err := d.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("with AllowPrivate: %v", err)
	}
	c.Close()
}

func TestNoProxyNoRedirect(t *testing.T) {
	t.Setenv("HTTP_PROXY", "http://127.0.0.1:1")
	var followed atomic.Bool
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { followed.Store(true) }))
	defer target.Close()
	redirect := httptest.NewServer(http.RedirectHandler(target.URL, http.StatusTemporaryRedirect))
	defer redirect.Close()
	resp, err := (&Guard{AllowPrivate: true}).Client(Timeout).Post(redirect.URL, "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err) // the proxy would have refused the connection
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect || followed.Load() {
		t.Errorf("status %d, followed %v: want the 307 itself", resp.StatusCode, followed.Load())
	}
}
