package rabbitmq

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"reflect"
	"strconv"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/mp3converter/mp3converter"
)

// Consuming: each delivery handled, and the decision carried out.

// Consume implements mp3converter.Queue. It reconnects with backoff until
// ctx ends.
func (q *Queue) Consume(ctx context.Context, queue string, h mp3converter.Handler) error {
	log := q.opts.Logger.With("queue", queue)
	delay := 100 * time.Millisecond
	waiter := &mp3converter.Waiter{Policy: q.opts.Policy}
	for {
		start := time.Now()
		err := q.consumeOnce(ctx, queue, h, waiter, log)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if q.closing.Err() != nil {
			return errClosed
		}
		if time.Since(start) > time.Minute {
			delay = 100 * time.Millisecond
		}
		log.Warn("ConsumerDisconnected", "err", err, "retry_in", delay)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-q.closing.Done():
			return errClosed
		case <-time.After(delay):
		}
		delay = min(delay*2, q.opts.ReconnectDelay)
	}
}

func (q *Queue) consumeOnce(ctx context.Context, queue string, h mp3converter.Handler, waiter *mp3converter.Waiter, log *slog.Logger) error {
	ch, err := q.channel()
	if err != nil {
		return err
	}
	defer ch.Close()
	if err := q.declare(ch, queue); err != nil {
		return err
	}
	if err := ch.Qos(q.opts.Prefetch, 0, false); err != nil {
		return err
	}
	tag := "mp3converter-" + mp3converter.NewID()
	deliveries, err := ch.Consume(queue, tag, false, false, false, false, nil)
	if err != nil {
		return err
	}
	var pause <-chan time.Time // while an engine is down: take nothing
	for {
		in := deliveries
		if pause != nil {
			in = nil
		}
		select {
		case <-pause:
			pause = nil
		case <-q.closing.Done():
			return errClosed
		case <-ctx.Done():
			// Stop deliveries, then hand back any that arrived meanwhile
			// without counting them as attempts.
			ch.Cancel(tag, false)
			for d := range deliveries {
				q.handBack(queue, d, header(d, "x-attempt"), log)
			}
			return ctx.Err()
		case d, ok := <-in:
			if !ok {
				return errors.New("delivery channel closed")
			}
			if p := waiter.After(q.handle(ctx, queue, d, h, log)); p > 0 {
				log.Info("ConsumerPaused", "for", p)
				pause = time.After(p)
			}
		}
	}
}

// handle runs h on d and carries out the decision, which it returns; the
// zero Decision when d is left unanswered or only counted, and ActionWait
// when what was to replace d could not be published (see putBack).
func (q *Queue) handle(ctx context.Context, queue string, d amqp.Delivery, h mp3converter.Handler, log *slog.Logger) mp3converter.Decision {
	bg := context.WithoutCancel(ctx)
	attempt := header(d, "x-attempt")
	log = log.With("message_id", d.MessageId)
	policy := q.opts.Policy
	if d.Redelivered && !q.takeUncounted(d.MessageId) {
		// The last delivery was never answered: count it. The header changes
		// only by republishing; past the last attempt Decide dead-letters.
		attempt++
		if !policy.Exhausted(attempt) {
			if q.replace(d, log, "QueueRepublishFailed", func() error { return q.republish(bg, queue, queue, d, attempt, 0) }) {
				return mp3converter.Decision{}
			}
			return mp3converter.Decision{Action: mp3converter.ActionWait}
		}
	}
	var err error
	if !policy.Exhausted(attempt) { // else the handler must not run
		err = h(bg, mp3converter.Delivery{Body: d.Body, Attempt: attempt, Final: policy.Final(attempt)})
		if q.closing.Err() != nil {
			return mp3converter.Decision{} // as if we had died: no answer
		}
	}
	dec := policy.Decide(attempt, err)
	if !q.carryOut(bg, queue, d, attempt, dec, log) {
		return mp3converter.Decision{Action: mp3converter.ActionWait}
	}
	return dec
}

// takeUncounted reports whether id's last delivery went back to the broker
// with its answer lost, and forgets it.
func (q *Queue) takeUncounted(id string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	ok := q.uncounted[id]
	delete(q.uncounted, id)
	return ok
}

// lost notes that d's answer was lost: its redelivery is not an attempt.
func (q *Queue) lost(d amqp.Delivery) {
	if d.MessageId == "" {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.uncounted) < 10000 {
		q.uncounted[d.MessageId] = true
	}
}

// orphaned reports whether d's channel is closed, as when its node died:
// the broker puts d back on its queue itself, and will redeliver it
// without its answer, so a copy published in its place would be a second.
func orphaned(d amqp.Delivery) bool {
	ch, ok := d.Acknowledger.(*amqp.Channel)
	return ok && ch.IsClosed()
}

// carryOut does what dec says with d, delivered for the attempt-th time. d
// is acked only once what replaces it is confirmed. It returns false if
// that could not be published: d is then back on its queue as it was.
func (q *Queue) carryOut(ctx context.Context, queue string, d amqp.Delivery, attempt int, dec mp3converter.Decision, log *slog.Logger) bool {
	switch dec.Action {
	case mp3converter.ActionAck:
		if err := d.Ack(false); err != nil {
			log.Warn("QueueAckFailed", "err", err) // redelivered, and handled idempotently
			q.lost(d)
		}
	case mp3converter.ActionHandBack:
		return q.handBack(queue, d, attempt, log)
	case mp3converter.ActionWait:
		log.Warn("QueueWaiting", "attempt", attempt, "err", dec.Reason)
		return q.handBack(queue, d, attempt, log)
	case mp3converter.ActionDeadLetter:
		return q.deadLetter(ctx, queue, d, dec, log)
	case mp3converter.ActionRetry:
		log.Info("QueueRetryScheduled", "attempt", attempt, "delay", dec.Delay, "err", dec.Reason)
		return q.replace(d, log, "QueueRetryFailed", func() error { return q.republish(ctx, queue, queue+".retry", d, attempt+1, dec.Delay) })
	}
	return true
}

// replace publishes what takes d's place, then acks d. It returns false
// if the publish fails: d then goes back to its queue as it was (see
// putBack). A d whose channel has closed is not replaced (orphaned).
func (q *Queue) replace(d amqp.Delivery, log *slog.Logger, event string, publish func() error) bool {
	if orphaned(d) {
		log.Warn("QueueChannelLost") // its redelivery is not counted
		q.lost(d)
		return true
	}
	if err := publish(); err != nil {
		log.Error(event, "err", err)
		q.putBack(d, log)
		return false
	}
	if err := d.Ack(false); err != nil {
		// Both live on, d and what replaced it: handled idempotently.
		log.Warn("QueueAckFailed", "err", err)
		q.lost(d)
	}
	return true
}

// putBack returns d to its queue as it was when what was to replace it
// could not be published (the broker refused it, or a quorum queue was
// electing its leader): unanswered on a live channel, d would stay with
// this consumer, which takes no other, until the channel closes. The fault
// is the broker's, not the message's: its redelivery is not counted, and
// the consumer pauses as for an engine's outage.
func (q *Queue) putBack(d amqp.Delivery, log *slog.Logger) {
	q.lost(d)
	if err := d.Nack(false, true); err != nil {
		log.Warn("QueueNackFailed", "err", err) // its channel closed: the broker has it back
	}
}

// handBack returns a message to the tail of its queue with the same attempt
// number; false as replace says.
func (q *Queue) handBack(queue string, d amqp.Delivery, attempt int, log *slog.Logger) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return q.replace(d, log, "QueueHandBackFailed", func() error { return q.republish(ctx, queue, queue, d, attempt, 0) })
}

// republish sends a copy of d to key with a new attempt number and, for the
// retry queue, a time to wait there.
func (q *Queue) republish(ctx context.Context, queue, key string, d amqp.Delivery, attempt int, wait time.Duration) error {
	p := amqp.Publishing{Body: d.Body, ContentType: d.ContentType, MessageId: d.MessageId, Timestamp: d.Timestamp,
		Headers: amqp.Table{"x-attempt": int32(attempt)}}
	if key != queue {
		p.Expiration = strconv.FormatInt(max(wait.Milliseconds(), 0), 10)
	}
	return q.publish(ctx, queue, key, p)
}

func (q *Queue) deadLetter(ctx context.Context, queue string, d amqp.Delivery, dec mp3converter.Decision, log *slog.Logger) bool {
	p := amqp.Publishing{Body: d.Body, ContentType: d.ContentType, MessageId: d.MessageId, Timestamp: d.Timestamp,
		Headers: amqp.Table{"x-attempts": int32(dec.Attempts), "x-reason": dec.Reason, "x-queue": queue, "x-dead-at": time.Now().UTC().Format(time.RFC3339Nano)}}
	orphan := orphaned(d)
	if !q.replace(d, log, "QueueDeadLetterFailed", func() error { return q.publish(ctx, queue, mp3converter.DeadLetterQueue(queue), p) }) {
		return false
	}
	if !orphan {
		log.Warn("QueueDeadLettered", "attempts", dec.Attempts, "reason", dec.Reason)
	}
	return true
}

// header reads a positive integer header, 1 if absent or bad. Brokers and
// other clients may send any width of integer, signed or not.
func header(d amqp.Delivery, name string) int {
	var n int64
	switch v := reflect.ValueOf(d.Headers[name]); {
	case v.CanInt():
		n = v.Int()
	case v.CanUint():
		n = int64(min(v.Uint(), math.MaxInt64))
	}
	if n < 1 {
		return 1
	}
	return int(n)
}
