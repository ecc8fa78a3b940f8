package httpapi

import (
	"context"
	"sync"
	"time"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/internal/memory"
)

// InUseLimit caps what users have in progress of one kind (uploads, event
// streams), each of which holds a connection, a descriptor and a
// goroutine for as long as its client likes:
//
//   - per user, with leases in Limits, which every gateway shares, so
//     that a user gets PerUser across the replicas (without Limits, in
//     this process's memory);
//   - in all, per process, since it is the process's resources that run
//     out.
//
// The zero value has no caps.
type InUseLimit struct {
	Kind    string // "uploads" or "streams": the lease's kind
	PerUser int    // 0: no cap
	Total   int    // per process; 0: no cap
	Limits  mp3converter.Limits
	// Refusal is the error of a refused acquire.
	Refusal error

	once  sync.Once
	mu    sync.Mutex
	total int
}

// acquire counts one more of user and returns the func that uncounts it,
// which does so once however often it is called; or Refusal, and which cap
// refused it: "per_user" or "total".
func (l *InUseLimit) acquire(ctx context.Context, user string) (release func(), refusedBy string, err error) {
	if l == nil {
		return func() {}, "", nil
	}
	l.once.Do(func() {
		if l.Limits == nil {
			l.Limits = memory.NewLimits()
		}
	})
	l.mu.Lock()
	if l.Total > 0 && l.total >= l.Total {
		l.mu.Unlock()
		return nil, "total", l.Refusal
	}
	l.total++
	l.mu.Unlock()
	uncount := func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.total--
	}
	lease, ok, err := l.Limits.Lease(ctx, l.Kind, user, l.PerUser)
	if err != nil || !ok {
		uncount()
		if err != nil {
			return nil, "", err
		}
		return nil, "per_user", l.Refusal
	}
	var once sync.Once
	return func() { once.Do(func() { lease(); uncount() }) }, "", nil
}

// errTooManyUploads refuses an upload over a cap; any upload in progress
// may end within seconds.
var errTooManyUploads = &retryAfterError{
	err:   mp3converter.Errorf(mp3converter.ETOOMANY, "too many uploads in progress; try again in a moment"),
	after: 5 * time.Second,
}

// NewUploadLimit caps uploads in progress: perUser per user across the
// gateways that share limits, total in this process.
func NewUploadLimit(perUser, total int, limits mp3converter.Limits) *InUseLimit {
	return &InUseLimit{Kind: "uploads", PerUser: perUser, Total: total, Limits: limits, Refusal: errTooManyUploads}
}

// NewStreamLimit caps open event streams likewise.
func NewStreamLimit(perUser, total int, limits mp3converter.Limits) *InUseLimit {
	return &InUseLimit{Kind: "streams", PerUser: perUser, Total: total, Limits: limits, Refusal: errTooManyStreams}
}
