package httpapi

import (
	"errors"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/mp3converter/mp3converter"
)

// UploadLimit caps the uploads in progress, per user and in total, so that
// a few clients cannot hold every connection, file and disk write of the
// gateway. Counts live in memory, per process. The zero value has no caps.
type UploadLimit struct {
	PerUser int // uploads one user may have in progress; 0: no cap
	Total   int // uploads in progress in all; 0: no cap

	n inUse
}

// errTooManyUploads refuses an upload over a cap; any upload in progress
// may end within seconds.
var errTooManyUploads = &retryAfterError{
	err:   mp3converter.Errorf(mp3converter.ETOOMANY, "too many uploads in progress; try again in a moment"),
	after: 5 * time.Second,
}

// acquire counts one more upload by user and returns the func that
// uncounts it, or errTooManyUploads, and which cap refused it.
func (l *UploadLimit) acquire(user string) (release func(), refusedBy string, err error) {
	if l == nil {
		return func() {}, "", nil
	}
	if release, refusedBy = l.n.take(user, l.PerUser, l.Total); release == nil {
		return nil, refusedBy, errTooManyUploads
	}
	return release, "", nil
}

// Errors of bodyReader, which bodyError turns into the client's.
var (
	errStalled = errors.New("upload stalled")
	errTooSlow = errors.New("upload too slow")
)

// bodyReader reads an upload's body under two clocks, pushed into the
// connection's read deadline before each read: a client may not stall for
// idle, and once grace has passed it must have sent minRate bytes per
// second on average since start (no floor if minRate is 0). A client that
// sends a byte now and then cannot hold a connection for long.
type bodyReader struct {
	r       io.ReadCloser
	rc      *http.ResponseController
	idle    time.Duration
	minRate int64
	grace   time.Duration
	start   time.Time
	n       int64
}

func (b *bodyReader) Read(p []byte) (int, error) {
	now := time.Now()
	deadline, slow := now.Add(b.idle), false
	if b.minRate > 0 {
		// The average falls below minRate at start + n/minRate, if no
		// further byte comes.
		due := b.start.Add(max(b.grace, time.Duration(float64(b.n)/float64(b.minRate)*float64(time.Second))))
		if due.Before(deadline) {
			deadline, slow = due, true
		}
	}
	b.rc.SetReadDeadline(deadline)
	n, err := b.r.Read(p)
	b.n += int64(n)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		if slow {
			return n, errTooSlow
		}
		return n, errStalled
	}
	return n, err
}

func (b *bodyReader) Close() error { return b.r.Close() }
