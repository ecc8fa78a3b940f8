//go:build integration

package rabbitmq_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/internal/testsupport"
	"github.com/mp3converter/mp3converter/rabbitmq"
)

// TestIntegrationFailover: on a 3-node cluster, clients given the three
// URLs publish and consume a quorum queue while the node they are
// connected to, which leads the queue, is stopped. They move to the next
// node; a publish in flight fails with ErrUnavailable; every confirmed
// message is consumed, and none twice but for an ack lost with the node.
func TestIntegrationFailover(t *testing.T) {
	cluster := testsupport.RabbitMQCluster(t, 3)
	vhost := cluster.AddVhost()
	var logs testsupport.SyncBuffer
	open := func(name string) *rabbitmq.Queue {
		q, err := rabbitmq.New(cluster.URLs(vhost), rabbitmq.Options{QueueType: rabbitmq.Quorum, ConnectionName: name,
			Logger: slog.New(slog.NewTextHandler(&logs, nil)).With("client", name)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { q.Close() })
		return q
	}
	pub, sub := open("publisher"), open("consumer")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	consumed := map[string]int{}
	go sub.Consume(ctx, "video", func(_ context.Context, d mp3converter.Delivery) error {
		mu.Lock()
		consumed[string(d.Body)]++
		mu.Unlock()
		return nil
	})
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(consumed)
	}

	r := failoverRun{t: t, q: pub}
	r.publish(ctx, func() bool { return len(r.confirmed) < 200 })
	for deadline := time.Now().Add(30 * time.Second); count() < 200; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("consumed %d of 200 before the stop", count())
		}
	}
	cluster.AwaitMembers(vhost, "video")
	leader := cluster.Leader(vhost, "video")
	if leader != cluster.Nodes[0] {
		t.Fatalf("the queue's leader is %v, want node 1, which the clients dial first", leader)
	}
	r.stopped = time.Now()
	stopped := make(chan struct{})
	go func() { leader.Stop(); close(stopped) }() // publishes go on meanwhile
	r.publish(ctx, func() bool {
		select {
		case <-stopped: // and publishes go through again, for 2 s
			return r.resumed == 0 || time.Since(r.stopped) < r.resumed+2*time.Second
		default:
			return true
		}
	})
	<-stopped

	for deadline := time.Now().Add(time.Minute); count() < len(r.confirmed); time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			break
		}
	}
	mu.Lock()
	lost, twice := r.tally(consumed)
	mu.Unlock()
	if lost > 0 || twice > 1 {
		t.Errorf("want no confirmed message lost, and at most 1 consumed twice (its ack lost with the node)")
	}
	next := "127.0.0.1" + cluster.Nodes[1].Addr[strings.LastIndex(cluster.Nodes[1].Addr, ":"):]
	for _, client := range []string{"publisher", "consumer"} {
		if !strings.Contains(logs.String(), "client="+client+" broker=amqp://guest:xxxxx@"+next) {
			t.Errorf("the %s did not move to node 2 (%s):\n%s", client, next, logs.String())
		}
	}
}

// failoverRun publishes numbered messages and sorts them by outcome.
type failoverRun struct {
	t                 *testing.T
	q                 *rabbitmq.Queue
	confirmed, failed []string
	stopped           time.Time     // when the node was stopped
	resumed           time.Duration // from then to the first confirm after a failure (or 10 s)
}

// tally logs what became of the messages, given how often each was
// consumed, and returns the confirmed ones never consumed and those
// consumed more than once.
func (r *failoverRun) tally(consumed map[string]int) (lost, twice int) {
	var ambiguous int
	for _, b := range r.confirmed {
		switch consumed[b] {
		case 0:
			lost++
		case 1:
		default:
			twice++
		}
	}
	for _, b := range r.failed {
		if consumed[b] > 0 {
			ambiguous++
		}
	}
	r.t.Logf("%d published: %d confirmed, %d failed (%d of them stored all the same); confirmed messages lost %d, consumed twice %d; publishing resumed %v after the stop",
		len(r.confirmed)+len(r.failed), len(r.confirmed), len(r.failed), ambiguous, lost, twice, r.resumed.Round(time.Millisecond))
	return lost, twice
}

// publish publishes numbered messages, a few milliseconds apart, while
// more says so; a failed one is not sent again, as the gateway answers 503
// and forgets it.
func (r *failoverRun) publish(ctx context.Context, more func() bool) {
	for more() {
		i := len(r.confirmed) + len(r.failed)
		body := fmt.Sprint(i)
		err := r.q.Publish(ctx, "video", []byte(body))
		switch {
		case err == nil:
			r.confirmed = append(r.confirmed, body)
			if !r.stopped.IsZero() && r.resumed == 0 && (len(r.failed) > 0 || time.Since(r.stopped) > 10*time.Second) {
				r.resumed = time.Since(r.stopped)
			}
		case errors.Is(err, mp3converter.ErrUnavailable):
			if len(r.failed)%20 == 0 {
				r.t.Logf("publish %d failed %v after the stop: %v", i, time.Since(r.stopped).Round(time.Millisecond), err)
			}
			r.failed = append(r.failed, body)
			if time.Since(r.stopped) > time.Minute {
				r.t.Fatalf("publishes still fail a minute after the stop: %v", err)
			}
			time.Sleep(100 * time.Millisecond)
		default:
			r.t.Fatalf("publish %d: %v, want nil or ErrUnavailable", i, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
