package mp3converter_test

import (
	"errors"
	"fmt"
	"strings"
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
