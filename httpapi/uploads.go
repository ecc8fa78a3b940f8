package httpapi

import (
	"errors"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/mp3converter/mp3converter"
)

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
