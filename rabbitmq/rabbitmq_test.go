//go:build integration

package rabbitmq_test

import (
	"context"
	"os"
	"sync"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/queuetest"
	"github.com/mp3converter/mp3converter/rabbitmq"
)

func brokerURL() string {
	if u := os.Getenv("MP3CONVERTER_TEST_RABBITMQ_URL"); u != "" {
		return u
	}
	return "amqp://guest:guest@127.0.0.1:5672/"
}

// mustReach fails the test when the broker is down: in CI a missing server
// is a failure.
func mustReach(t *testing.T) {
	t.Helper()
	conn, err := amqp.Dial(brokerURL())
	if err != nil {
		t.Fatalf("RabbitMQ is not reachable at %s (start it as .ci/run does): %v", brokerURL(), err)
	}
	conn.Close()
}

// recorder notes the queues a test used, to delete them afterwards.
type recorder struct {
	*rabbitmq.Queue
	mu    *sync.Mutex
	names map[string]bool
}

func (r recorder) note(name string) {
	r.mu.Lock()
	r.names[name] = true
	r.mu.Unlock()
}

func (r recorder) Publish(ctx context.Context, name string, body []byte) error {
	r.note(name)
	return r.Queue.Publish(ctx, name, body)
}

func (r recorder) Consume(ctx context.Context, name string, h mp3converter.Handler) error {
	r.note(name)
	return r.Queue.Consume(ctx, name, h)
}

func TestIntegrationConformance(t *testing.T) {
	mustReach(t)
	queuetest.Run(t, func(t *testing.T) queuetest.Connect {
		var mu sync.Mutex
		names := map[string]bool{}
		t.Cleanup(func() { deleteQueues(t, names) })
		return func(t *testing.T, p mp3converter.RetryPolicy) mp3converter.Queue {
			q, err := rabbitmq.New(brokerURL(), rabbitmq.Options{Policy: p, ConnectionName: t.Name()})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { q.Close() })
			return recorder{Queue: q, mu: &mu, names: names}
		}
	})
}

func deleteQueues(t *testing.T, names map[string]bool) {
	conn, err := amqp.Dial(brokerURL())
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	defer ch.Close()
	for n := range names {
		for _, q := range []string{n, n + ".retry", n + ".dead"} {
			ch.QueueDelete(q, false, false, false)
		}
	}
}
