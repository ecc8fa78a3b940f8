package mp3converter

import (
	"context"
	"time"
)

// Limits keeps the counts that limit what clients may do, where every
// gateway sees them, so that a limit holds across replicas: failed logins,
// counted in sliding windows, and leases on what a user has in progress
// (uploads, event streams). The job store's database keeps them
// (internal/sqldb); internal/memory keeps them for one process.
type Limits interface {
	// Reserve counts one event at now against each of keys, unless a key
	// already has its Limit of events within its Window: then it counts
	// nothing and returns how long until the oldest of those leaves the
	// window. A reservation counts until Release takes it back. Errors
	// wrap ErrUnavailable when the store is down.
	Reserve(ctx context.Context, now time.Time, keys []LimitKey) (id string, wait time.Duration, err error)
	// Release takes back the events of reservation id.
	Release(ctx context.Context, id string) error
	// Lease takes one of kind ("uploads", "streams") for owner unless
	// owner holds perOwner of them already (0: no cap), in which case ok
	// is false. A lease lasts until released, or until its process stops
	// renewing it (it died).
	Lease(ctx context.Context, kind, owner string, perOwner int) (release func(), ok bool, err error)
}

// LimitKey is a count of events: at most Limit within Window (0: no limit).
type LimitKey struct {
	Key    string
	Limit  int
	Window time.Duration
}
