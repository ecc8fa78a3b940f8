//go:build integration

package rabbitmq_test

import (
	"testing"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/internal/testsupport"
	"github.com/mp3converter/mp3converter/queuetest"
	"github.com/mp3converter/mp3converter/rabbitmq"
)

// TestIntegrationConformance runs the suite on classic and on quorum
// queues, each in a vhost of its own, which takes the suite's queues with
// it when it is deleted. The shared broker is one node, which is enough for
// quorum queues: Q.retry's per-message TTL and its dead-lettering back to Q
// are what the Retry cases check.
func TestIntegrationConformance(t *testing.T) {
	for _, kind := range []string{rabbitmq.Classic, rabbitmq.Quorum} {
		t.Run(kind, func(t *testing.T) {
			brokerURL := testsupport.Broker(t)
			queuetest.Run(t, func(t *testing.T) queuetest.Connect {
				return func(t *testing.T, p mp3converter.RetryPolicy) mp3converter.Queue {
					q, err := rabbitmq.New(brokerURL, rabbitmq.Options{Policy: p, QueueType: kind, ConnectionName: t.Name()})
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { q.Close() })
					return q
				}
			})
		})
	}
}
