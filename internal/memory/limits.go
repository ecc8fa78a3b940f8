package memory

import (
	"context"
	"crypto/rand"
	"slices"
	"sync"
	"time"

	"github.com/mp3converter/mp3converter"
)

// Limits is mp3converter.Limits in the memory of one process: its limits
// hold for that process alone.
type Limits struct {
	mu     sync.Mutex
	events map[string][]event  // by key, oldest first
	byID   map[string][]string // a reservation's keys
	leases map[string]int      // by kind|owner
}

type event struct {
	id string
	at time.Time
}

var _ mp3converter.Limits = (*Limits)(nil)

// NewLimits returns empty limits.
func NewLimits() *Limits {
	return &Limits{events: map[string][]event{}, byID: map[string][]string{}, leases: map[string]int{}}
}

// Reserve implements mp3converter.Limits.
func (l *Limits) Reserve(_ context.Context, now time.Time, keys []mp3converter.LimitKey) (string, time.Duration, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.events) > 100_000 { // bound memory under a spray of keys
		for k := range l.events {
			l.recent(k, now, 25*time.Hour)
		}
		for id, keys := range l.byID {
			if !slices.ContainsFunc(keys, func(k string) bool { return len(l.events[k]) > 0 }) {
				delete(l.byID, id)
			}
		}
	}
	var wait time.Duration
	for _, k := range keys {
		evs := l.recent(k.Key, now, k.Window)
		if k.Limit > 0 && len(evs) >= k.Limit {
			// Room again once enough events have left the window.
			wait = max(wait, evs[len(evs)-k.Limit].at.Add(k.Window).Sub(now))
		}
	}
	if wait > 0 {
		return "", wait, nil
	}
	id := rand.Text()
	for _, k := range keys {
		l.events[k.Key] = append(l.events[k.Key], event{id, now})
		l.byID[id] = append(l.byID[id], k.Key)
	}
	return id, 0, nil
}

// recent drops key's events older than window and returns the rest.
// Callers hold mu.
func (l *Limits) recent(key string, now time.Time, window time.Duration) []event {
	evs := l.events[key]
	i := 0
	for i < len(evs) && now.Sub(evs[i].at) >= window {
		i++
	}
	evs = evs[i:]
	if len(evs) == 0 {
		delete(l.events, key)
	} else {
		l.events[key] = evs
	}
	return evs
}

// Release implements mp3converter.Limits.
func (l *Limits) Release(_ context.Context, id string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range l.byID[id] {
		evs := l.events[k]
		if i := slices.IndexFunc(evs, func(e event) bool { return e.id == id }); i >= 0 {
			l.events[k] = slices.Delete(evs, i, i+1)
		}
	}
	delete(l.byID, id)
	return nil
}

// Lease implements mp3converter.Limits.
func (l *Limits) Lease(_ context.Context, kind, owner string, perOwner int) (func(), bool, error) {
	key := kind + "|" + owner
	l.mu.Lock()
	defer l.mu.Unlock()
	if perOwner > 0 && l.leases[key] >= perOwner {
		return nil, false, nil
	}
	l.leases[key]++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			if l.leases[key]--; l.leases[key] <= 0 {
				delete(l.leases, key)
			}
		})
	}, true, nil
}
