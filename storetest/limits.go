package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter"
)

// RunLimits runs the suite of mp3converter.Limits.
func RunLimits(t *testing.T, newLimits func(t *testing.T) mp3converter.Limits) {
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	key := func(k string, limit int) mp3converter.LimitKey {
		return mp3converter.LimitKey{Key: k, Limit: limit, Window: 10 * time.Minute}
	}
	t.Run("Window", func(t *testing.T) {
		l := newLimits(t)
		for i := range 3 {
			if id, w, err := l.Reserve(ctx, t0.Add(time.Duration(i)*time.Minute), []mp3converter.LimitKey{key("a", 3)}); err != nil || id == "" || w != 0 {
				t.Fatalf("event %d: %q, wait %v, %v", i+1, id, w, err)
			}
		}
		// Full at 3 minutes: room once the first, at 0, leaves at 10.
		if id, w, err := l.Reserve(ctx, t0.Add(3*time.Minute), []mp3converter.LimitKey{key("a", 3)}); err != nil || id != "" || w != 7*time.Minute {
			t.Errorf("a 4th event: %q, wait %v, %v; want none, 7m", id, w, err)
		}
		if _, w, _ := l.Reserve(ctx, t0.Add(10*time.Minute), []mp3converter.LimitKey{key("a", 3)}); w != 0 {
			t.Errorf("after the first left the window: wait %v", w)
		}
		if id, w, _ := l.Reserve(ctx, t0, []mp3converter.LimitKey{key("b", 0)}); id == "" || w != 0 {
			t.Error("a key without a limit refused")
		}
	})
	t.Run("AllOrNothing", func(t *testing.T) {
		l := newLimits(t)
		l.Reserve(ctx, t0, []mp3converter.LimitKey{key("full", 1)})
		if id, w, _ := l.Reserve(ctx, t0, []mp3converter.LimitKey{key("free", 1), key("full", 1)}); id != "" || w == 0 {
			t.Fatal("reserved with one key full")
		}
		if id, _, _ := l.Reserve(ctx, t0, []mp3converter.LimitKey{key("free", 1)}); id == "" {
			t.Error("a refused reservation counted against the free key")
		}
	})
	t.Run("Release", func(t *testing.T) {
		l := newLimits(t)
		id, _, _ := l.Reserve(ctx, t0, []mp3converter.LimitKey{key("a", 1), key("b", 1)})
		if err := l.Release(ctx, id); err != nil {
			t.Fatal(err)
		}
		if id, _, _ := l.Reserve(ctx, t0, []mp3converter.LimitKey{key("a", 1), key("b", 1)}); id == "" {
			t.Error("a released reservation still counts")
		}
	})
	t.Run("Race", func(t *testing.T) {
		l := newLimits(t)
		var wg sync.WaitGroup
		var mu sync.Mutex
		got := 0
		for range 40 {
			wg.Go(func() {
				id, _, err := l.Reserve(ctx, t0, []mp3converter.LimitKey{key("race", 5), key("other", 0)})
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				defer mu.Unlock()
				if id != "" {
					got++
				}
			})
		}
		wg.Wait()
		if got != 5 {
			t.Errorf("40 parallel reservations against a limit of 5: %d counted", got)
		}
	})
	t.Run("Lease", func(t *testing.T) { testLease(t, newLimits(t)) })
}

func testLease(t *testing.T, l mp3converter.Limits) {
	ctx := context.Background()
	var held []func()
	for i := range 2 {
		release, ok, err := l.Lease(ctx, "streams", "ann@example.com", 2)
		if err != nil || !ok {
			t.Fatalf("lease %d: %v, %v", i+1, ok, err)
		}
		held = append(held, release)
	}
	if _, ok, _ := l.Lease(ctx, "streams", "ann@example.com", 2); ok {
		t.Error("a 3rd lease past the owner's 2")
	}
	for _, other := range [][2]string{{"uploads", "ann@example.com"}, {"streams", "bob@example.com"}} {
		if _, ok, _ := l.Lease(ctx, other[0], other[1], 2); !ok {
			t.Errorf("%s of %s refused by ann's streams", other[0], other[1])
		}
	}
	held[0]()
	held[0]() // twice: counts once
	if _, ok, _ := l.Lease(ctx, "streams", "ann@example.com", 2); !ok {
		t.Error("no lease after one was released")
	}
	if _, ok, _ := l.Lease(ctx, "streams", "ann@example.com", 2); ok {
		t.Error("a release counted twice")
	}
	for i := range 20 {
		if _, ok, _ := l.Lease(ctx, "uploads", fmt.Sprint("carol", i), 0); !ok {
			t.Fatal("a lease without a cap refused")
		}
	}
}
