package mp3converter_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/mp3converter/mp3converter"
)

func TestRetryPolicyDecide(t *testing.T) {
	p := mp3converter.RetryPolicy{MaxAttempts: 3, MinBackoff: time.Second, MaxBackoff: time.Minute}
	transient := errors.New("smtp down")
	long := "x" + strings.Repeat("é", mp3converter.MaxReasonBytes) // a cut at MaxReasonBytes would split an é
	atLimit := strings.Repeat("a", mp3converter.MaxReasonBytes)
	for _, tc := range []struct {
		name     string
		policy   mp3converter.RetryPolicy
		attempt  int
		err      error
		action   mp3converter.Action
		attempts int           // Decision.Attempts
		reason   string        // Decision.Reason
		delay    time.Duration // for ActionRetry: Delay in [delay/2, delay]
	}{
		{"Ack", p, 1, nil, mp3converter.ActionAck, 0, "", 0},
		{"AckOnFinal", p, 3, nil, mp3converter.ActionAck, 0, "", 0},
		{"ShutdownHandsBack", p, 1, fmt.Errorf("converter: %w", mp3converter.ErrShutdown), mp3converter.ActionHandBack, 0, "", 0},
		{"ShutdownOnFinalHandsBack", p, 3, mp3converter.ErrShutdown, mp3converter.ActionHandBack, 0, "", 0},
		{"PermanentShutdownHandsBack", p, 1, mp3converter.Permanent(mp3converter.ErrShutdown), mp3converter.ActionHandBack, 0, "", 0},
		{"PermanentDeadLetters", p, 1, mp3converter.Permanent(errors.New("no audio track")), mp3converter.ActionDeadLetter, 1, "no audio track", 0},
		{"TransientRetries", p, 1, transient, mp3converter.ActionRetry, 0, "smtp down", time.Second},
		{"TransientBacksOff", p, 2, transient, mp3converter.ActionRetry, 0, "smtp down", 2 * time.Second},
		{"TransientOnFinalDeadLetters", p, 3, transient, mp3converter.ActionDeadLetter, 3, "smtp down", 0},
		{"UnavailableWaits", p, 1, fmt.Errorf("mysql get job: %w", mp3converter.ErrUnavailable), mp3converter.ActionWait, 0, "mysql get job: service temporarily unavailable", 0},
		{"UnavailableOnFinalWaits", p, 3, fmt.Errorf("gridfs put: %w", mp3converter.ErrUnavailable), mp3converter.ActionWait, 0, "gridfs put: service temporarily unavailable", 0},
		{"DiskFullWaits", p, 3, &os.PathError{Op: "write", Path: "/tmp/x", Err: syscall.ENOSPC}, mp3converter.ActionWait, 0, "write /tmp/x: no space left on device", 0},
		{"PermanentUnavailableDeadLetters", p, 1, mp3converter.Permanent(fmt.Errorf("bad: %w", mp3converter.ErrUnavailable)), mp3converter.ActionDeadLetter, 1, "bad: service temporarily unavailable", 0},
		{"ExhaustedUnavailableDeadLetters", p, 4, mp3converter.ErrUnavailable, mp3converter.ActionDeadLetter, 3, "delivered 3 times without an answer (consumer died?)", 0},
		{"ZeroMaxAttemptsMeansOne", mp3converter.RetryPolicy{}, 1, transient, mp3converter.ActionDeadLetter, 1, "smtp down", 0},
		{"ExhaustedDeadLetters", p, 4, nil, mp3converter.ActionDeadLetter, 3, "delivered 3 times without an answer (consumer died?)", 0},
		{"ExhaustedIgnoresErr", p, 4, mp3converter.ErrShutdown, mp3converter.ActionDeadLetter, 3, "delivered 3 times without an answer (consumer died?)", 0},
		{"LongReasonTruncated", p, 1, mp3converter.Permanent(errors.New(long)), mp3converter.ActionDeadLetter, 1,
			"x" + strings.Repeat("é", (mp3converter.MaxReasonBytes-1)/2), 0},
		{"ReasonAtLimitKept", p, 3, errors.New(atLimit), mp3converter.ActionDeadLetter, 3, atLimit, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.policy.Decide(tc.attempt, tc.err)
			if d.Action != tc.action || d.Attempts != tc.attempts || d.Reason != tc.reason {
				t.Errorf("Decide(%d, %.60v) = Action %v, Attempts %d, Reason %.60q; want %v, %d, %.60q",
					tc.attempt, tc.err, d.Action, d.Attempts, d.Reason, tc.action, tc.attempts, tc.reason)
			}
			if len(d.Reason) > mp3converter.MaxReasonBytes || !utf8.ValidString(d.Reason) {
				t.Errorf("Reason is %d bytes, valid UTF-8 %v", len(d.Reason), utf8.ValidString(d.Reason))
			}
			if d.Delay < tc.delay/2 || d.Delay > tc.delay {
				t.Errorf("Delay %v, want within [%v, %v]", d.Delay, tc.delay/2, tc.delay)
			}
		})
	}
}

func TestWaiterPausesGrow(t *testing.T) {
	w := mp3converter.Waiter{Policy: mp3converter.RetryPolicy{MinPause: time.Second, MaxPause: 8 * time.Second}}
	wait := mp3converter.Decision{Action: mp3converter.ActionWait}
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second} {
		if got := w.After(wait); got < want/2 || got > want {
			t.Errorf("pause %d: %v, want within [%v, %v]", i+1, got, want/2, want)
		}
	}
	if got := w.After(mp3converter.Decision{Action: mp3converter.ActionAck}); got != 0 {
		t.Errorf("pause after an ack: %v", got)
	}
	if got := w.After(wait); got > time.Second {
		t.Errorf("the first wait after an ack pauses %v, want the run to start again", got)
	}
	if got := (mp3converter.RetryPolicy{}).Pause(100); got < 15*time.Second || got > 30*time.Second {
		t.Errorf("default pause cap: %v", got)
	}
}

func TestWhileUnavailable(t *testing.T) {
	p := mp3converter.RetryPolicy{MinPause: time.Millisecond, MaxPause: 4 * time.Millisecond}
	calls := 0
	err := p.WhileUnavailable(context.Background(), func(context.Context) error {
		calls++
		if calls < 4 {
			return fmt.Errorf("mysql: %w", mp3converter.ErrUnavailable)
		}
		return nil
	})
	if err != nil || calls != 4 {
		t.Errorf("WhileUnavailable: %v after %d calls, want nil after 4", err, calls)
	}
	other := errors.New("bug")
	calls = 0
	if err := p.WhileUnavailable(context.Background(), func(context.Context) error { calls++; return other }); err != other || calls != 1 {
		t.Errorf("other error: %v after %d calls", err, calls)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := p.WhileUnavailable(ctx, func(context.Context) error { return mp3converter.ErrUnavailable }); !errors.Is(err, mp3converter.ErrUnavailable) {
		t.Errorf("after ctx ends: %v", err)
	}
}
