package httpapi

import (
	"context"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestThrottle(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	th := &Throttle{PerAccount: 3, PerAddress: 5, Window: 10 * time.Minute, Now: func() time.Time { return now }}
	ann, bob := LoginKeys("ann", "192.0.2.1", ""), LoginKeys("bob", "192.0.2.1", "")
	fail := func(keys []string) time.Duration {
		t.Helper()
		a, w, _ := th.Reserve(context.Background(), keys...)
		if a == nil && w == 0 {
			t.Fatal("Reserve returned neither an attempt nor a wait")
		}
		return w
	}
	for i := 0; i < 3; i++ {
		if w := fail(ann); w != 0 {
			t.Fatalf("attempt %d throttled already (%v)", i+1, w)
		}
		now = now.Add(time.Minute)
	}
	// Three failures at 0, 1 and 2 minutes: ann waits from this address
	// until the first leaves the window at 10 minutes; it is now 3 minutes.
	if a, w, _ := th.Reserve(context.Background(), ann...); a != nil || w != 7*time.Minute {
		t.Errorf("after 3 failures: %v, wait %v; want 7m", a, w)
	}
	// Ann from her own address is not held up by failures elsewhere.
	if a, w, _ := th.Reserve(context.Background(), LoginKeys("ann", "198.51.100.7", "")...); a == nil {
		t.Errorf("ann from another address waits %v", w)
	} else {
		a.Succeeded()
	}
	// The address has room for two more failures, on another account.
	fail(bob)
	fail(bob)
	if _, w, _ := th.Reserve(context.Background(), bob...); w != 7*time.Minute {
		t.Errorf("address after 5 failures: wait %v, want 7m (first failure at 0)", w)
	}
	if a, w, _ := th.Reserve(context.Background(), LoginKeys("carol", "192.0.2.2", "")...); a == nil {
		t.Errorf("an unrelated client is throttled: %v", w)
	} else {
		a.Cancel()
	}
	now = now.Add(7 * time.Minute)
	a, w, _ := th.Reserve(context.Background(), ann...)
	if a == nil {
		t.Fatalf("after the window, ann still waits %v", w)
	}
	// A success counts as no failure, and clears none: two failures at 1
	// and 2 minutes are still in the window, so one more fits, then ann
	// waits until the one at 1 minute leaves it, at 11.
	a.Succeeded()
	fail(ann)
	if _, w, _ := th.Reserve(context.Background(), ann...); w != time.Minute {
		t.Errorf("after a success and a failure: wait %v, want 1m", w)
	}
}

// TestThrottleReservesFirst: parallel attempts cannot all pass the count,
// and no more checks run at once than the caps allow.
func TestThrottleReservesFirst(t *testing.T) {
	th := &Throttle{PerAccount: 5, PerAddress: 20, Window: time.Hour, Checks: 3, ChecksPerAccount: 1}
	var reserved, running, most atomic.Int32
	var wg sync.WaitGroup
	for range 60 {
		wg.Go(func() {
			a, _, _ := th.Reserve(context.Background(), LoginKeys("ann", "192.0.2.1", "")...)
			if a == nil {
				return
			}
			reserved.Add(1)
			end, err := th.Check(context.Background(), "ann")
			if err != nil {
				t.Error(err)
				return
			}
			n := running.Add(1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			time.Sleep(5 * time.Millisecond) // hold the check, so that others would overlap it
			running.Add(-1)
			end()
		})
	}
	wg.Wait()
	if reserved.Load() != 5 || most.Load() != 1 {
		t.Errorf("%d of 60 parallel attempts reserved (want 5), %d checks at once (want 1)", reserved.Load(), most.Load())
	}
	ctx, cancel := context.WithCancel(context.Background())
	end, _ := th.Check(ctx, "bob")
	cancel()
	if _, err := th.Check(ctx, "bob"); err == nil {
		t.Error("a second check of bob did not wait for the first")
	}
	end()
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
