package mp3converter

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
	"unicode/utf8"
)

// RetryPolicy says how often and how soon a failed message is retried.
type RetryPolicy struct {
	MaxAttempts int           // deliveries before a message is dead-lettered; at least 1
	MinBackoff  time.Duration // delay before the second attempt
	MaxBackoff  time.Duration // cap on the delay
}

// DefaultRetryPolicy: three attempts, 2 s then about 4 s apart.
var DefaultRetryPolicy = RetryPolicy{MaxAttempts: 3, MinBackoff: 2 * time.Second, MaxBackoff: 5 * time.Minute}

// Backoff returns the delay before the attempt after attempt: exponential
// from MinBackoff, capped at MaxBackoff, with jitter in [d/2, d] so that
// consumers failing together do not retry together.
func (p RetryPolicy) Backoff(attempt int) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	d := p.MinBackoff
	for i := 1; i < attempt && d < p.MaxBackoff; i++ {
		d *= 2
	}
	if p.MaxBackoff > 0 && d > p.MaxBackoff {
		d = p.MaxBackoff
	}
	if d <= 0 {
		return 0
	}
	return d/2 + rand.N(d/2+1)
}

// Final reports whether attempt is the last one the policy allows.
func (p RetryPolicy) Final(attempt int) bool { return attempt >= max(p.MaxAttempts, 1) }

// Exhausted reports whether attempt is past the last one the policy allows,
// which normally means earlier deliveries went unanswered because their
// consumers died. Queues check it before running the handler: such a
// message must not get the chance to kill another consumer.
func (p RetryPolicy) Exhausted(attempt int) bool { return attempt > max(p.MaxAttempts, 1) }

// Action is what a queue does with a delivery.
type Action int

// The actions of a Decision.
const (
	ActionAck        Action = iota + 1 // remove the message
	ActionHandBack                     // make it due again at once, this attempt not counted
	ActionRetry                        // deliver it again, as the next attempt, after Delay
	ActionDeadLetter                   // move it to the dead-letter queue
)

// Decision is what a queue does with one delivery; see Decide.
type Decision struct {
	Action Action
	Delay  time.Duration // ActionRetry: wait before the next attempt
	// Attempts is, for ActionDeadLetter, the deliveries that count, answered
	// or not, for DeadLetter.Attempts.
	Attempts int
	// Reason is why the message is retried or dead-lettered, at most
	// MaxReasonBytes of valid UTF-8 when the error text is.
	Reason string
}

// MaxReasonBytes bounds DeadLetter.Reason: a handler error can quote a
// whole ffmpeg log, and the reason travels in a message header or row.
const MaxReasonBytes = 1000

// Decide says what a queue does with delivery number attempt of a message
// whose handler returned err; every queue carries out the same decision, so
// Queue.Consume's contract is kept in this one place. A delivery past the
// last attempt (see Exhausted) is dead-lettered whatever err is.
func (p RetryPolicy) Decide(attempt int, err error) Decision {
	switch {
	case p.Exhausted(attempt):
		n := attempt - 1
		return Decision{Action: ActionDeadLetter, Attempts: n, Reason: fmt.Sprintf("delivered %d times without an answer (consumer died?)", n)}
	case err == nil:
		return Decision{Action: ActionAck}
	case errors.Is(err, ErrShutdown): // before Permanent: a shutdown is never the message's fault
		return Decision{Action: ActionHandBack}
	case IsPermanent(err) || p.Final(attempt):
		return Decision{Action: ActionDeadLetter, Attempts: attempt, Reason: truncate(err.Error(), MaxReasonBytes)}
	default:
		return Decision{Action: ActionRetry, Delay: p.Backoff(attempt), Reason: truncate(err.Error(), MaxReasonBytes)}
	}
}

// truncate cuts s to at most n bytes, not inside a UTF-8 sequence, so that
// a cut reason still encodes as JSON or a header string unchanged.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
