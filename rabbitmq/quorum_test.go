//go:build integration

package rabbitmq_test

import (
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/internal/testsupport"
	"github.com/mp3converter/mp3converter/rabbitmq"
)

// newQueue is a client of brokerURL with quorum or classic queues.
func newQueue(t *testing.T, brokerURL, kind string, p mp3converter.RetryPolicy) *rabbitmq.Queue {
	t.Helper()
	q, err := rabbitmq.New(brokerURL, rabbitmq.Options{Policy: p, QueueType: kind, ConnectionName: t.Name()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

// TestIntegrationQuorumTopology: with QueueType quorum, Q, Q.retry and
// Q.dead are all quorum queues, and Q.retry dead-letters at least once.
func TestIntegrationQuorumTopology(t *testing.T) {
	brokerURL := testsupport.Broker(t)
	q := newQueue(t, brokerURL, rabbitmq.Quorum, mp3converter.RetryPolicy{})
	if err := q.Publish(context.Background(), "video", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	vhost := brokerURL[strings.LastIndex(brokerURL, "/")+1:]
	out, err := exec.Command("rabbitmqctl", "list_queues", "-p", vhost, "name", "type", "arguments", "--formatter", "json").Output()
	if err != nil {
		t.Fatalf("list_queues: %v", err)
	}
	var queues []struct {
		Name, Type string
		Arguments  [][]any // name, type, value
	}
	if err := json.Unmarshal(out[strings.Index(string(out), "["):], &queues); err != nil {
		t.Fatalf("list_queues: %v\n%s", err, out)
	}
	types := map[string]string{}
	for _, q := range queues {
		types[q.Name] = q.Type
		if q.Name == "video.retry" && !slices.ContainsFunc(q.Arguments, func(a []any) bool {
			return len(a) == 3 && a[0] == "x-dead-letter-strategy" && a[2] == "at-least-once"
		}) {
			t.Errorf("video.retry's arguments: %v", q.Arguments)
		}
	}
	for _, name := range []string{"video", "video.retry", "video.dead"} {
		if types[name] != "quorum" {
			t.Errorf("%s is a %q queue, want quorum", name, types[name])
		}
	}
}

// TestIntegrationQuorumRetryWaits: a retry waits out its backoff in a
// quorum Q.retry (per-message TTL, which quorum queues have since
// RabbitMQ 3.10) before it is dead-lettered back to Q.
func TestIntegrationQuorumRetryWaits(t *testing.T) {
	backoff := 1500 * time.Millisecond
	p := mp3converter.RetryPolicy{MaxAttempts: 3, MinBackoff: backoff, MaxBackoff: backoff, MinPause: 100 * time.Millisecond, MaxPause: time.Second}
	q := newQueue(t, testsupport.Broker(t), rabbitmq.Quorum, p)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := q.Publish(ctx, "video", []byte("flaky")); err != nil {
		t.Fatal(err)
	}
	var times []time.Time
	q.Consume(ctx, "video", func(_ context.Context, d mp3converter.Delivery) error {
		times = append(times, time.Now())
		if d.Attempt == 1 {
			return errors.New("storage unavailable")
		}
		cancel()
		return nil
	})
	if len(times) != 2 {
		t.Fatalf("%d deliveries, want 2", len(times))
	}
	// The policy's jitter may shorten the wait by up to half.
	if gap := times[1].Sub(times[0]); gap < backoff/2 || gap > backoff+5*time.Second {
		t.Errorf("retried after %v, want about %v", gap, backoff)
	}
}

// TestIntegrationQueueTypeMismatch: a client of the other type fails to
// declare the queue, with an error that says so, and publishes nothing.
func TestIntegrationQueueTypeMismatch(t *testing.T) {
	brokerURL := testsupport.Broker(t)
	for _, order := range [][2]string{{rabbitmq.Classic, rabbitmq.Quorum}, {rabbitmq.Quorum, rabbitmq.Classic}} {
		queue := "mismatch-" + order[0]
		first := newQueue(t, brokerURL, order[0], mp3converter.RetryPolicy{})
		if err := first.Publish(context.Background(), queue, []byte("{}")); err != nil {
			t.Fatal(err)
		}
		second := newQueue(t, brokerURL, order[1], mp3converter.RetryPolicy{})
		err := second.Publish(context.Background(), queue, []byte("{}"))
		if err == nil || !strings.Contains(err.Error(), "exists as another type") || !strings.Contains(err.Error(), "PRECONDITION_FAILED") {
			t.Errorf("a %s client on a %s queue: %v", order[1], order[0], err)
		}
		if n, err := first.Depth(context.Background(), queue); n != 1 || err != nil {
			t.Errorf("%s holds %d messages (%v), want the first client's 1", queue, n, err)
		}
	}
}

// TestIntegrationRefusedReplacementGoesBack: when the broker refuses what
// would replace a delivery (here its retry: a policy caps a classic
// Q.retry at 0 messages, rejecting publishes, as a quorum queue's leader
// election does for some seconds), the delivery goes back to its queue
// uncounted rather than stay unanswered with its consumer, which would
// then take nothing more; once the broker takes it, the retry goes
// through.
func TestIntegrationRefusedReplacementGoesBack(t *testing.T) {
	brokerURL := testsupport.Broker(t)
	vhost := brokerURL[strings.LastIndex(brokerURL, "/")+1:]
	policy := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("rabbitmqctl", append([]string{"-p", vhost}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("rabbitmqctl %v: %v\n%s", args, err, out)
		}
	}
	policy("set_policy", "refuse", `^video\.retry$`, `{"max-length":0,"overflow":"reject-publish"}`, "--apply-to", "queues")
	p := mp3converter.RetryPolicy{MaxAttempts: 3, MinBackoff: 100 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
		MinPause: 100 * time.Millisecond, MaxPause: 200 * time.Millisecond}
	q := newQueue(t, brokerURL, rabbitmq.Classic, p)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := q.Publish(ctx, "video", []byte("flaky")); err != nil {
		t.Fatal(err)
	}
	var attempts []int
	q.Consume(ctx, "video", func(_ context.Context, d mp3converter.Delivery) error {
		attempts = append(attempts, d.Attempt)
		switch {
		case d.Attempt > 1:
			cancel()
			return nil
		case len(attempts) == 3:
			policy("clear_policy", "refuse")
		}
		return errors.New("storage unavailable")
	})
	if want := []int{1, 1, 1, 2}; !slices.Equal(attempts, want) {
		t.Errorf("attempts %v, want %v", attempts, want)
	}
}
