package httpapi

import (
	"net/http/httptest"
	"testing"
	"time"
)

func TestThrottle(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	th := &Throttle{PerAccount: 3, PerAddress: 5, Window: 10 * time.Minute, Now: func() time.Time { return now }}
	ann, bob, addr := "account:ann", "account:bob", "addr:192.0.2.1"

	for i := 0; i < 3; i++ {
		if w := th.Wait(ann, addr); w != 0 {
			t.Fatalf("attempt %d throttled already (%v)", i+1, w)
		}
		th.Fail(ann, addr)
		now = now.Add(time.Minute)
	}
	// Three failures at 0, 1 and 2 minutes: ann waits until the first
	// leaves the window at 10 minutes; it is now 3 minutes.
	if w := th.Wait(ann, addr); w != 7*time.Minute {
		t.Errorf("after 3 failures Wait = %v, want 7m", w)
	}
	if w := th.Wait(bob); w != 0 {
		t.Errorf("another account is throttled: %v", w)
	}
	// The address has room for two more failures, on another account.
	th.Fail(bob, addr)
	th.Fail(bob, addr)
	if w := th.Wait(bob, addr); w != 7*time.Minute {
		t.Errorf("address after 5 failures: Wait = %v, want 7m (first failure at 0)", w)
	}
	if w := th.Wait("account:carol", "addr:192.0.2.2"); w != 0 {
		t.Errorf("an unrelated client is throttled: %v", w)
	}
	now = now.Add(7 * time.Minute)
	if w := th.Wait(ann); w != 0 {
		t.Errorf("after the window, ann still waits %v", w)
	}
	th.Fail(ann)
	th.Forget(ann)
	if w := th.Wait(ann); w != 0 {
		t.Errorf("Forget did not clear: %v", w)
	}
}

func TestClientAddr(t *testing.T) {
	proxies, err := ParseProxies("10.0.0.0/8, 127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		remote string
		xff    []string
		want   string
	}{
		{"192.0.2.7:5000", nil, "192.0.2.7"},
		{"192.0.2.7:5000", []string{"203.0.113.9"}, "192.0.2.7"},                   // not a proxy: its header is not believed
		{"10.1.2.3:80", []string{"203.0.113.9"}, "203.0.113.9"},                    // the ingress forwarded the client
		{"10.1.2.3:80", []string{"1.1.1.1, 203.0.113.9, 10.9.9.9"}, "203.0.113.9"}, // the client cannot forge past the proxies
		{"127.0.0.1:80", []string{"1.1.1.1", "203.0.113.9"}, "203.0.113.9"},        // several headers
		{"10.1.2.3:80", []string{"garbage"}, "10.1.2.3"},
		{"10.1.2.3:80", nil, "10.1.2.3"},
		{"[::ffff:10.1.2.3]:80", []string{"203.0.113.9"}, "203.0.113.9"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("POST", "/login", nil)
		r.RemoteAddr = tt.remote
		for _, v := range tt.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := proxies.ClientAddr(r); got != tt.want {
			t.Errorf("ClientAddr(%s, %q) = %s, want %s", tt.remote, tt.xff, got, tt.want)
		}
	}
	if _, err := ParseProxies("10.0.0.0/33"); err == nil {
		t.Error("ParseProxies accepted a bad CIDR")
	}
}

func TestContentDisposition(t *testing.T) {
	for name, want := range map[string]string{
		"song.mp3":            `attachment; filename="song.mp3"; filename*=UTF-8''song.mp3`,
		`my "best" take.mp3`:  `attachment; filename="my _best_ take.mp3"; filename*=UTF-8''my%20%22best%22%20take.mp3`,
		"видео.mp3":           `attachment; filename="_____.mp3"; filename*=UTF-8''%D0%B2%D0%B8%D0%B4%D0%B5%D0%BE.mp3`,
		`back\slash 100%.mp3`: `attachment; filename="back_slash 100_.mp3"; filename*=UTF-8''back%5Cslash%20100%25.mp3`,
	} {
		if got := ContentDisposition(name); got != want {
			t.Errorf("ContentDisposition(%q) =\n  %s\nwant\n  %s", name, got, want)
		}
	}
}
