package mp3converter

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"syscall"
	"time"
	"unicode/utf8"
)

// RetryPolicy says how often and how soon a failed message is retried.
type RetryPolicy struct {
	MaxAttempts int           // deliveries before a message is dead-lettered; at least 1
	MinBackoff  time.Duration // delay before the second attempt
	MaxBackoff  time.Duration // cap on the delay
	// MinPause and MaxPause pace a consumer through an engine's outage (see
	// Pause); 1 s and 30 s when zero.
	MinPause, MaxPause time.Duration
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
	// ActionWait: an engine is unavailable, which is no fault of the
	// message. Hand it back, this attempt not counted, and let the consumer
	// take no message for a pause that grows while the outage lasts (see
	// Waiter).
	ActionWait
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
	case IsUnavailable(err) && !IsPermanent(err): // before Final: attempts count only failures of the job itself
		return Decision{Action: ActionWait, Reason: truncate(err.Error(), MaxReasonBytes)}
	case IsPermanent(err) || p.Final(attempt):
		return Decision{Action: ActionDeadLetter, Attempts: attempt, Reason: truncate(err.Error(), MaxReasonBytes)}
	default:
		return Decision{Action: ActionRetry, Delay: p.Backoff(attempt), Reason: truncate(err.Error(), MaxReasonBytes)}
	}
}

// IsUnavailable reports whether err says that an engine is unavailable (it
// wraps ErrUnavailable) or that a disk is full (IsOutOfSpace):
// waiting, not failing. A queue waits it out (ActionWait) without counting
// the attempt.
func IsUnavailable(err error) bool {
	return errors.Is(err, ErrUnavailable) || IsOutOfSpace(err)
}

// IsOutOfSpace reports whether err is a full disk or an exceeded quota:
// ENOSPC, EDQUOT, or a store's ErrInsufficientStorage.
func IsOutOfSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, ErrInsufficientStorage)
}

// Pause returns how long a consumer takes no message after the waits-th
// ActionWait in a row: exponential from MinPause, capped at MaxPause, with
// Backoff's jitter, so that a lasting outage is asked less and less often.
func (p RetryPolicy) Pause(waits int) time.Duration {
	return RetryPolicy{MinBackoff: cmp.Or(p.MinPause, time.Second), MaxBackoff: cmp.Or(p.MaxPause, 30*time.Second)}.Backoff(waits)
}

// Waiter paces one consumer through outages: each queue keeps one per
// Consume call and asks it, after carrying out each decision, how long to
// take no message. Its zero value is not usable; set Policy.
type Waiter struct {
	Policy RetryPolicy
	waits  int // ActionWait decisions in a row
}

// After returns the pause after dec: Policy.Pause of the waits in a row
// for ActionWait, and 0 for any other action, which ends the run.
func (w *Waiter) After(dec Decision) time.Duration {
	if dec.Action != ActionWait {
		w.waits = 0
		return 0
	}
	w.waits++
	return w.Policy.Pause(w.waits)
}

// WhileUnavailable calls fn until it returns nil or an error that is not
// IsUnavailable, pausing as Pause says between calls; when ctx ends it
// returns fn's last error. Use it for the write that answers for a message
// (a job's final state), which must not be lost to an outage.
func (p RetryPolicy) WhileUnavailable(ctx context.Context, fn func(context.Context) error) error {
	for waits := 1; ; waits++ {
		err := fn(ctx)
		if !IsUnavailable(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(p.Pause(waits)):
		}
	}
}

// Outlast runs fn, a write that answers for a delivery, with 10 s a try
// that ctx's end does not cut short, until it succeeds or fails for another
// reason than an unavailable engine, or ctx ends; once ctx has ended
// (shutting down) it tries for 10 s more.
func (p RetryPolicy) Outlast(ctx context.Context, fn func(context.Context) error) error {
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
	}
	return p.WhileUnavailable(ctx, func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		return fn(ctx)
	})
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
