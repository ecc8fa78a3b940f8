// Package queuetest is the conformance suite every mp3converter.Queue
// passes, embedded or on a broker.
package queuetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter"
)

// Connect returns a new client of one backend, closed when t ends. Clients
// of one backend share its queues. Closing a client must drop its in-flight
// messages unanswered, as a crash would.
type Connect func(t *testing.T, policy mp3converter.RetryPolicy) mp3converter.Queue

// newBackendFunc is Run's newBackend.
type newBackendFunc = func(t *testing.T) Connect

// Run runs the suite. newBackend returns a Connect for a backend; redelivery
// of an unanswered message must happen within 10 s of its client's Close.
func Run(t *testing.T, newBackend func(t *testing.T) Connect) {
	policy := mp3converter.RetryPolicy{MaxAttempts: 3, MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second,
		MinPause: 100 * time.Millisecond, MaxPause: 400 * time.Millisecond}

	for _, st := range []struct {
		name string
		test func(t *testing.T, newBackend newBackendFunc, policy mp3converter.RetryPolicy)
	}{
		{"PublishConsume", testPublishConsume},
		{"SurvivesClient", testSurvivesClient},
		{"Retry", testRetry},
		{"DeadLetterAfterLastAttempt", testDeadLetterAfterLastAttempt},
		{"PermanentIsNotRetried", testPermanentIsNotRetried},
		{"ShutdownHandsBack", testShutdownHandsBack},
		{"RetryDecision", testRetryDecision},
		{"OutageIsWaitedOut", testOutageIsWaitedOut},
		{"DeadLetterListingIsCapped", testDeadLetterListingIsCapped},
		{"UnansweredIsRedelivered", testUnansweredIsRedelivered},
		{"CrashLoopIsBounded", testCrashLoopIsBounded},
		{"ParallelConsumers", testParallelConsumers},
		{"CancelWaitsForHandler", testCancelWaitsForHandler},
		{"Depth", testDepth},
	} {
		t.Run(st.name, func(t *testing.T) { st.test(t, newBackend, policy) })
	}
}

// newQueue connects a client to a new backend and names a fresh queue.
func newQueue(t *testing.T, newBackend newBackendFunc, policy mp3converter.RetryPolicy) (mp3converter.Queue, string) {
	return newBackend(t)(t, policy), queueName()
}

func testPublishConsume(t *testing.T, newBackend newBackendFunc, policy mp3converter.RetryPolicy) {
	q, name := newQueue(t, newBackend, policy)
	want := []string{"one", "two", "three"}
	for _, b := range want {
		publish(t, q, name, b)
	}
	got := collect(t, q, name, 3, func(mp3converter.Delivery) error { return nil })
	if !sameSet(bodies(got), want) {
		t.Errorf("got %v, want %v", bodies(got), want)
	}
	for _, d := range got {
		if d.Attempt != 1 || d.Final {
			t.Errorf("first delivery has Attempt %d Final %v", d.Attempt, d.Final)
		}
	}
	expectNothing(t, q, name, time.Second)
}

func testSurvivesClient(t *testing.T, newBackend newBackendFunc, policy mp3converter.RetryPolicy) {
	connect := newBackend(t)
	a := connect(t, policy)
	name := queueName()
	publish(t, a, name, "durable")
	a.(io.Closer).Close()
	b := connect(t, policy)
	got := collect(t, b, name, 1, func(mp3converter.Delivery) error { return nil })
	if string(got[0].Body) != "durable" {
		t.Errorf("got %q", got[0].Body)
	}
}

func testRetry(t *testing.T, newBackend newBackendFunc, policy mp3converter.RetryPolicy) {
	q, name := newQueue(t, newBackend, policy)
	publish(t, q, name, "flaky")
	var times []time.Time
	got := collect(t, q, name, 2, func(d mp3converter.Delivery) error {
		times = append(times, time.Now())
		if d.Attempt == 1 {
			return errors.New("storage unavailable")
		}
		return nil
	})
	if got[0].Attempt != 1 || got[1].Attempt != 2 {
		t.Errorf("attempts %d, %d; want 1, 2", got[0].Attempt, got[1].Attempt)
	}
	if gap := times[1].Sub(times[0]); gap < policy.MinBackoff/2 {
		t.Errorf("retried after %v, before the backoff of at least %v", gap, policy.MinBackoff/2)
	}
	expectNothing(t, q, name, time.Second)
}

func testDeadLetterAfterLastAttempt(t *testing.T, newBackend newBackendFunc, policy mp3converter.RetryPolicy) {
	q, name := newQueue(t, newBackend, policy)
	publish(t, q, name, "always fails")
	got := collect(t, q, name, 3, func(mp3converter.Delivery) error { return errors.New("smtp down") })
	for i, d := range got {
		if d.Attempt != i+1 || d.Final != (i == 2) {
			t.Errorf("delivery %d: Attempt %d Final %v", i, d.Attempt, d.Final)
		}
	}
	expectNothing(t, q, name, 1500*time.Millisecond)
	dl := deadLetters(t, q, name, 1)
	if string(dl[0].Body) != "always fails" || dl[0].Queue != name || dl[0].Attempts != 3 || dl[0].Reason == "" || dl[0].ID == "" {
		t.Errorf("dead letter %+v", dl[0])
	}
	// Requeued, it starts again from attempt 1.
	if err := q.(mp3converter.DeadLetterStore).Requeue(context.Background(), name, dl[0].ID); err != nil {
		t.Fatal(err)
	}
	again := collect(t, q, name, 1, func(mp3converter.Delivery) error { return nil })
	if string(again[0].Body) != "always fails" || again[0].Attempt != 1 {
		t.Errorf("requeued delivery %+v", again[0])
	}
	deadLetters(t, q, name, 0)
	if err := q.(mp3converter.DeadLetterStore).Requeue(context.Background(), name, dl[0].ID); !errors.Is(err, mp3converter.ErrNotFound) {
		t.Errorf("requeue twice: %v, want ErrNotFound", err)
	}
}

func testPermanentIsNotRetried(t *testing.T, newBackend newBackendFunc, policy mp3converter.RetryPolicy) {
	q, name := newQueue(t, newBackend, policy)
	publish(t, q, name, "poison")
	got := collect(t, q, name, 1, func(mp3converter.Delivery) error {
		return mp3converter.Permanent(errors.New("the video has no audio track"))
	})
	if got[0].Attempt != 1 {
		t.Errorf("attempt %d", got[0].Attempt)
	}
	expectNothing(t, q, name, 1500*time.Millisecond)
	dl := deadLetters(t, q, name, 1)
	if dl[0].Attempts != 1 || dl[0].Reason != "the video has no audio track" {
		t.Errorf("dead letter %+v", dl[0])
	}
}

func testShutdownHandsBack(t *testing.T, newBackend newBackendFunc, policy mp3converter.RetryPolicy) {
	q, name := newQueue(t, newBackend, policy)
	publish(t, q, name, "interrupted")
	start := time.Now()
	got := collect(t, q, name, 2, func(d mp3converter.Delivery) error {
		if len(d.Body) > 0 && d.Attempt == 1 && time.Since(start) < 5*time.Second {
			start = time.Time{}
			return fmt.Errorf("converter: %w", mp3converter.ErrShutdown)
		}
		return nil
	})
	if got[0].Attempt != 1 || got[1].Attempt != 1 {
		t.Errorf("handed-back delivery was counted: attempts %d, %d", got[0].Attempt, got[1].Attempt)
	}
}

// testRetryDecision has one case per outcome of RetryPolicy.Decide, carried
// out by the queue.
func testRetryDecision(t *testing.T, newBackend newBackendFunc, policy mp3converter.RetryPolicy) {
	fail := func(err error) func(int) error { return func(int) error { return err } }
	long := "x" + strings.Repeat("é", mp3converter.MaxReasonBytes) // a cut at MaxReasonBytes would split an é
	for _, tc := range []struct {
		name     string
		err      func(n int) error // the handler's result on the n-th delivery, from 0
		attempts []int             // Attempt of each delivery
		dead     int               // Attempts of the dead letter; 0 for none
		reason   string            // its Reason
	}{
		{"NilRemoves", fail(nil), []int{1}, 0, ""},
		{"PermanentDeadLettersAtOnce", fail(mp3converter.Permanent(errors.New("no audio track"))), []int{1}, 1, "no audio track"},
		{"ShutdownHandsBackUncounted", func(n int) error {
			if n == 0 {
				return fmt.Errorf("converter: %w", mp3converter.ErrShutdown)
			}
			return nil
		}, []int{1, 1}, 0, ""},
		{"UnavailableWaitsUncounted", func(n int) error {
			if n < policy.MaxAttempts+1 {
				return fmt.Errorf("job store: %w", mp3converter.ErrUnavailable)
			}
			return nil
		}, []int{1, 1, 1, 1, 1}, 0, ""},
		{"DiskFullWaitsUncounted", func(n int) error {
			if n == 0 {
				return &os.PathError{Op: "write", Path: "scratch", Err: syscall.ENOSPC}
			}
			return nil
		}, []int{1, 1}, 0, ""},
		{"TransientRetriesThenDeadLetters", fail(errors.New("smtp down")), []int{1, 2, 3}, 3, "smtp down"},
		{"LongReasonTruncated", fail(mp3converter.Permanent(errors.New(long))), []int{1}, 1,
			"x" + strings.Repeat("é", (mp3converter.MaxReasonBytes-1)/2)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			q, name := newQueue(t, newBackend, policy)
			publish(t, q, name, tc.name)
			n := 0
			got := collect(t, q, name, len(tc.attempts), func(mp3converter.Delivery) error {
				n++
				return tc.err(n - 1)
			})
			for i, d := range got {
				if d.Attempt != tc.attempts[i] || d.Final != (d.Attempt == policy.MaxAttempts) {
					t.Errorf("delivery %d: Attempt %d Final %v, want Attempt %d", i, d.Attempt, d.Final, tc.attempts[i])
				}
			}
			expectNothing(t, q, name, 1500*time.Millisecond)
			if tc.dead == 0 {
				deadLetters(t, q, name, 0)
				return
			}
			dl := deadLetters(t, q, name, 1)[0]
			if string(dl.Body) != tc.name || dl.Attempts != tc.dead || dl.Reason != tc.reason {
				t.Errorf("dead letter: body %q, Attempts %d, Reason %.40q (%d bytes); want Attempts %d, Reason %.40q (%d bytes)",
					dl.Body, dl.Attempts, dl.Reason, len(dl.Reason), tc.dead, tc.reason, len(tc.reason))
			}
		})
	}
}

// testOutageIsWaitedOut: while the handler says an engine is unavailable,
// its message comes back uncounted, and the consumer pauses longer each time.
func testOutageIsWaitedOut(t *testing.T, newBackend newBackendFunc, policy mp3converter.RetryPolicy) {
	q, name := newQueue(t, newBackend, policy)
	publish(t, q, name, "outage")
	const waits = 4
	var times []time.Time
	got := collect(t, q, name, waits+1, func(d mp3converter.Delivery) error {
		times = append(times, time.Now())
		if len(times) <= waits {
			return fmt.Errorf("mysql get job: %w", mp3converter.ErrUnavailable)
		}
		return nil
	})
	for i, d := range got {
		if d.Attempt != 1 || d.Final {
			t.Errorf("delivery %d during the outage: Attempt %d Final %v, want 1, false", i, d.Attempt, d.Final)
		}
	}
	first, last := times[1].Sub(times[0]), times[waits].Sub(times[waits-1])
	if first < policy.MinPause/2 || last < policy.MaxPause/2 || last <= first {
		t.Errorf("pauses %v first, %v last; want at least %v growing to at least %v", first, last, policy.MinPause/2, policy.MaxPause/2)
	}
	expectNothing(t, q, name, time.Second)
	deadLetters(t, q, name, 0)
}

func testDeadLetterListingIsCapped(t *testing.T, newBackend newBackendFunc, policy mp3converter.RetryPolicy) {
	q, name := newQueue(t, newBackend, policy)
	for i := range mp3converter.MaxListedDeadLetters + 1 {
		publish(t, q, name, fmt.Sprint(i))
	}
	collect(t, q, name, mp3converter.MaxListedDeadLetters+1, func(mp3converter.Delivery) error {
		return mp3converter.Permanent(errors.New("poison"))
	})
	// Consume has returned, so every message is dead-lettered by now.
	dl, err := q.(mp3converter.DeadLetterStore).DeadLetters(context.Background(), name)
	if err != nil || len(dl) != mp3converter.MaxListedDeadLetters {
		t.Errorf("listed %d dead letters (%v), want %d", len(dl), err, mp3converter.MaxListedDeadLetters)
	}
}

func testUnansweredIsRedelivered(t *testing.T, newBackend newBackendFunc, policy mp3converter.RetryPolicy) {
	connect := newBackend(t)
	a := connect(t, policy)
	name := queueName()
	publish(t, a, name, "crash")
	release := make(chan struct{})
	defer close(release)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := consumeAndHold(ctx, a, name, release)
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery")
	}
	a.(io.Closer).Close() // the consumer "dies" holding the message
	b := connect(t, policy)
	again := collect(t, b, name, 1, func(mp3converter.Delivery) error { return nil })
	if again[0].Attempt != 2 {
		t.Errorf("redelivery after a crash has Attempt %d, want 2", again[0].Attempt)
	}
}

func testCrashLoopIsBounded(t *testing.T, newBackend newBackendFunc, policy mp3converter.RetryPolicy) {
	connect := newBackend(t)
	name := queueName()
	publish(t, connect(t, policy), name, "kills its consumer")
	release := make(chan struct{})
	defer close(release)
	for i := 1; i <= policy.MaxAttempts; i++ {
		c := connect(t, policy)
		ctx, cancel := context.WithCancel(context.Background())
		got := consumeAndHold(ctx, c, name, release)
		select {
		case d := <-got:
			if d.Attempt != i {
				t.Errorf("delivery %d has Attempt %d", i, d.Attempt)
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("delivery %d never came", i)
		}
		c.(io.Closer).Close()
		cancel()
	}
	last := connect(t, policy)
	expectNothing(t, last, name, 3*time.Second)
	dl := deadLetters(t, last, name, 1)
	if dl[0].Attempts != policy.MaxAttempts {
		t.Errorf("dead letter after crashes: %+v", dl[0])
	}
}

// consumeAndHold starts consuming name on q; its handler sends each delivery
// to the returned channel, then holds it unanswered until release is closed.
func consumeAndHold(ctx context.Context, q mp3converter.Queue, name string, release <-chan struct{}) <-chan mp3converter.Delivery {
	got := make(chan mp3converter.Delivery, 1)
	go q.Consume(ctx, name, func(_ context.Context, d mp3converter.Delivery) error {
		got <- d
		<-release
		return nil
	})
	return got
}

func testParallelConsumers(t *testing.T, newBackend newBackendFunc, policy mp3converter.RetryPolicy) {
	connect := newBackend(t)
	name := queueName()
	pub := connect(t, policy)
	const n = 20
	for i := range n {
		publish(t, pub, name, fmt.Sprint(i))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	seen := map[string]int{}
	perConsumer := make([]int, 2)
	done := make(chan struct{})
	var wg sync.WaitGroup
	for c := range 2 {
		q := connect(t, policy)
		wg.Add(1)
		go func() {
			defer wg.Done()
			q.Consume(ctx, name, func(_ context.Context, d mp3converter.Delivery) error {
				time.Sleep(20 * time.Millisecond)
				mu.Lock()
				defer mu.Unlock()
				seen[string(d.Body)]++
				perConsumer[c]++
				if len(seen) == n {
					select {
					case <-done:
					default:
						close(done)
					}
				}
				return nil
			})
		}()
	}
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("only %d of %d delivered", len(seen), n)
	}
	time.Sleep(500 * time.Millisecond)
	cancel()
	wg.Wait()
	for b, k := range seen {
		if k != 1 {
			t.Errorf("message %s delivered %d times", b, k)
		}
	}
	if perConsumer[0] == 0 || perConsumer[1] == 0 {
		t.Errorf("work not shared: %v", perConsumer)
	}
}

func testCancelWaitsForHandler(t *testing.T, newBackend newBackendFunc, policy mp3converter.RetryPolicy) {
	q, name := newQueue(t, newBackend, policy)
	publish(t, q, name, "slow")
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	var handlerCtxErr error
	finished := false
	returned := make(chan error, 1)
	go func() {
		returned <- q.Consume(ctx, name, func(hctx context.Context, d mp3converter.Delivery) error {
			close(started)
			time.Sleep(300 * time.Millisecond)
			handlerCtxErr = hctx.Err()
			finished = true
			return nil
		})
	}()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery")
	}
	cancel()
	select {
	case err := <-returned:
		if !finished {
			t.Error("Consume returned before its handler finished")
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Consume returned %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Consume did not return after cancel")
	}
	if handlerCtxErr != nil {
		t.Errorf("handler context was cancelled with Consume's: %v", handlerCtxErr)
	}
	expectNothing(t, q, name, time.Second) // the handler's nil was honoured
}

// testDepth checks the counts of a queue that is a QueueCounter: ready
// messages, then none once consumed, and a dead letter on Q.dead.
func testDepth(t *testing.T, newBackend newBackendFunc, policy mp3converter.RetryPolicy) {
	q, name := newQueue(t, newBackend, policy)
	c, ok := q.(mp3converter.QueueCounter)
	if !ok {
		t.Skip("not a QueueCounter")
	}
	depth := func(queue string, want int) {
		t.Helper()
		var n int
		var err error
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if n, err = c.Depth(context.Background(), queue); err == nil && n == want {
				return
			}
		}
		t.Errorf("depth of %s: %d, %v; want %d", queue, n, err, want)
	}
	depth(name, 0) // never used
	depth(mp3converter.DeadLetterQueue(name), 0)
	publish(t, q, name, "one")
	publish(t, q, name, "two")
	depth(name, 2)
	collect(t, q, name, 2, func(d mp3converter.Delivery) error {
		if string(d.Body) == "two" {
			return mp3converter.Permanent(errors.New("poison"))
		}
		return nil
	})
	depth(name, 0)
	depth(mp3converter.DeadLetterQueue(name), 1)
}
