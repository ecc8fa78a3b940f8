// Package rabbitmq implements mp3converter.Queue on RabbitMQ with
// github.com/rabbitmq/amqp091-go, on the wire as the seed's services use it:
// durable queues named video and mp3 on the default exchange, persistent
// JSON messages.
//
// For each queue Q it declares three durable queues: Q itself with no
// arguments (so it matches queues the seed made by hand), Q.retry, whose
// messages return to Q when their per-message TTL (the backoff) expires, and
// Q.dead for dead letters. The attempt number travels in the x-attempt
// header. Publishes wait for the broker's confirm. Each Consume call has its
// own channel with a prefetch of one and acks by hand; a message is acked
// only after whatever replaces it (retry, dead letter, hand-back) is
// confirmed, so a crash at any point loses nothing.
//
// A delivery marked redelivered was given to a consumer that never answered
// (it died, or lost its connection). It counts as an attempt: it is
// republished with the next attempt number, or dead-lettered when none are
// left, so a message that kills its consumer cannot loop forever. The
// exception is a message whose answer was lost with the connection: a
// hand-back (shutdown, or an engine's outage) or an ack this client could
// not send. The client remembers its id and does not count its redelivery
// (when the same client gets it again).
//
// A handler waiting out an engine's outage (ActionWait) has its message
// handed back uncounted, and its consumer takes nothing for a pause that
// grows while the outage lasts.
//
// The connection is opened on first use and reopened after it drops, with
// backoff for consumers; a publish while the broker is down fails at once
// with mp3converter.ErrUnavailable.
//
// A known limit: Q.retry expires messages in order, so a message with a long
// backoff delays shorter ones queued behind it.
package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"reflect"
	"strconv"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/internal/redact"
)

// Options configure a Queue. Zero values take the defaults.
type Options struct {
	Policy         mp3converter.RetryPolicy // DefaultRetryPolicy if MaxAttempts is 0
	Prefetch       int                      // unacked messages per consumer (1)
	DialTimeout    time.Duration            // 5 s
	ReconnectDelay time.Duration            // longest wait between reconnects (10 s)
	ConnectionName string                   // shown in the management console
	Logger         *slog.Logger
}

// Queue is a client of one RabbitMQ broker.
type Queue struct {
	url     string
	display string // url without password
	opts    Options

	mu       sync.Mutex
	conn     *amqp.Connection
	pub      *amqp.Channel // confirm mode; guarded by pubMu
	declared map[string]bool
	// uncounted holds the ids of messages whose hand-back or ack was lost
	// with the connection: their redelivery is not an attempt.
	uncounted map[string]bool
	pubMu     sync.Mutex

	closing context.Context    // done once Close is called
	stop    context.CancelFunc // cancels closing; idempotent, so Close needs no sync.Once
}

var (
	_ mp3converter.Queue           = (*Queue)(nil)
	_ mp3converter.DeadLetterStore = (*Queue)(nil)
	_ mp3converter.QueueCounter    = (*Queue)(nil)
)

// errClosed is returned after Close.
var errClosed = errors.New("rabbitmq: queue closed")

// New returns a client of the broker at rawURL (amqp:// or amqps://). It
// does not connect until first used.
func New(rawURL string, opts Options) (*Queue, error) {
	if _, err := amqp.ParseURI(rawURL); err != nil {
		// amqp's error quotes the URL, password and all.
		return nil, fmt.Errorf("queue URL %s: want amqp://user:pass@host:5672/vhost (or amqps://)", redact.URL(rawURL))
	}
	if opts.Policy.MaxAttempts == 0 {
		opts.Policy = mp3converter.DefaultRetryPolicy
	}
	if opts.Prefetch <= 0 {
		opts.Prefetch = 1
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = 5 * time.Second
	}
	if opts.ReconnectDelay <= 0 {
		opts.ReconnectDelay = 10 * time.Second
	}
	if opts.ConnectionName == "" {
		opts.ConnectionName = "mp3converter"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	q := &Queue{url: rawURL, display: redact.URL(rawURL), opts: opts, uncounted: map[string]bool{}}
	q.closing, q.stop = context.WithCancel(context.Background())
	return q, nil
}

// Close drops the connection. Messages handed to consumers and not yet
// answered go back to their queues, as if the process had died.
func (q *Queue) Close() error {
	q.stop()
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.conn != nil {
		q.conn.Close()
	}
	return nil
}

// connection returns the open connection, dialling if there is none.
func (q *Queue) connection() (*amqp.Connection, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closing.Err() != nil {
		return nil, errClosed
	}
	if q.conn != nil && !q.conn.IsClosed() {
		return q.conn, nil
	}
	conn, err := amqp.DialConfig(q.url, amqp.Config{
		Dial:       amqp.DefaultDial(q.opts.DialTimeout),
		Heartbeat:  10 * time.Second,
		Properties: amqp.Table{"connection_name": q.opts.ConnectionName},
	})
	if err != nil {
		return nil, fmt.Errorf("rabbitmq %s: %w: %w", q.display, mp3converter.ErrUnavailable, err)
	}
	q.conn, q.declared = conn, map[string]bool{}
	q.opts.Logger.Info("QueueConnected", "broker", q.display)
	return conn, nil
}

// declare makes queue's topology exist, once per connection.
func (q *Queue) declare(ch *amqp.Channel, queue string) error {
	q.mu.Lock()
	done := q.declared[queue]
	q.mu.Unlock()
	if done {
		return nil
	}
	for _, d := range []struct {
		name string
		args amqp.Table
	}{
		{queue, nil},
		{queue + ".retry", amqp.Table{"x-dead-letter-exchange": "", "x-dead-letter-routing-key": queue}},
		{mp3converter.DeadLetterQueue(queue), nil},
	} {
		if _, err := ch.QueueDeclare(d.name, true, false, false, false, d.args); err != nil {
			return fmt.Errorf("declare queue %s: %w", d.name, err)
		}
	}
	q.mu.Lock()
	if q.declared != nil {
		q.declared[queue] = true
	}
	q.mu.Unlock()
	return nil
}

// Publish implements mp3converter.Queue.
func (q *Queue) Publish(ctx context.Context, queue string, body []byte) error {
	return q.publish(ctx, queue, queue, amqp.Publishing{Body: body, Headers: amqp.Table{"x-attempt": int32(1)}})
}

// publish sends p to the queue key, one of queue's topology, and waits for
// the broker's confirm.
func (q *Queue) publish(ctx context.Context, queue, key string, p amqp.Publishing) error {
	q.pubMu.Lock()
	defer q.pubMu.Unlock()
	ch, err := q.publisher()
	if err != nil {
		return err
	}
	fail := func(err error) error {
		ch.Close()
		return fmt.Errorf("rabbitmq publish to %s: %w: %w", key, mp3converter.ErrUnavailable, err)
	}
	if err := q.declare(ch, queue); err != nil {
		return fail(err)
	}
	p.DeliveryMode = amqp.Persistent
	if p.ContentType == "" {
		p.ContentType = "application/json"
	}
	if p.MessageId == "" {
		p.MessageId = mp3converter.NewID()
	}
	if p.Timestamp.IsZero() {
		p.Timestamp = time.Now().UTC()
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", key, false, false, p)
	if err != nil {
		return fail(err)
	}
	ok, err := dc.WaitContext(ctx)
	if err != nil {
		return fail(err)
	}
	if !ok {
		return fmt.Errorf("rabbitmq publish to %s: %w: the broker refused the message", key, mp3converter.ErrUnavailable)
	}
	return nil
}

// publisher returns the confirm-mode channel, opening one if needed.
// Callers hold pubMu.
func (q *Queue) publisher() (*amqp.Channel, error) {
	if q.pub != nil && !q.pub.IsClosed() {
		return q.pub, nil
	}
	ch, err := q.channel()
	if err != nil {
		return nil, err
	}
	if err := ch.Confirm(false); err != nil {
		ch.Close()
		return nil, fmt.Errorf("rabbitmq confirm mode: %w: %w", mp3converter.ErrUnavailable, err)
	}
	q.pub = ch
	return ch, nil
}

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
// zero Decision when d is left unanswered or only counted.
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
			if err := q.republish(bg, queue, queue, d, attempt, 0); err != nil {
				log.Error("QueueRepublishFailed", "err", err)
				return mp3converter.Decision{}
			}
			d.Ack(false)
			return mp3converter.Decision{}
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
	q.carryOut(bg, queue, d, attempt, dec, log)
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

// carryOut does what dec says with d, delivered for the attempt-th time. d
// is acked only once what replaces it is confirmed.
func (q *Queue) carryOut(ctx context.Context, queue string, d amqp.Delivery, attempt int, dec mp3converter.Decision, log *slog.Logger) {
	switch dec.Action {
	case mp3converter.ActionAck:
		if err := d.Ack(false); err != nil {
			log.Warn("QueueAckFailed", "err", err) // redelivered, and handled idempotently
			q.lost(d)
		}
	case mp3converter.ActionHandBack:
		q.handBack(queue, d, attempt, log)
	case mp3converter.ActionWait:
		log.Warn("QueueWaiting", "attempt", attempt, "err", dec.Reason)
		q.handBack(queue, d, attempt, log)
	case mp3converter.ActionDeadLetter:
		q.deadLetter(ctx, queue, d, dec, log)
	case mp3converter.ActionRetry:
		log.Info("QueueRetryScheduled", "attempt", attempt, "delay", dec.Delay, "err", dec.Reason)
		if err := q.republish(ctx, queue, queue+".retry", d, attempt+1, dec.Delay); err != nil {
			log.Error("QueueRetryFailed", "err", err)
			return
		}
		d.Ack(false)
	}
}

// handBack returns a message to the tail of its queue with the same attempt
// number.
func (q *Queue) handBack(queue string, d amqp.Delivery, attempt int, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := q.republish(ctx, queue, queue, d, attempt, 0); err != nil {
		log.Error("QueueHandBackFailed", "err", err) // not acked: the broker redelivers it
		q.lost(d)
		return
	}
	d.Ack(false)
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

func (q *Queue) deadLetter(ctx context.Context, queue string, d amqp.Delivery, dec mp3converter.Decision, log *slog.Logger) {
	p := amqp.Publishing{Body: d.Body, ContentType: d.ContentType, MessageId: d.MessageId, Timestamp: d.Timestamp,
		Headers: amqp.Table{"x-attempts": int32(dec.Attempts), "x-reason": dec.Reason, "x-queue": queue, "x-dead-at": time.Now().UTC().Format(time.RFC3339Nano)}}
	if err := q.publish(ctx, queue, mp3converter.DeadLetterQueue(queue), p); err != nil {
		log.Error("QueueDeadLetterFailed", "err", err)
		return
	}
	d.Ack(false)
	log.Warn("QueueDeadLettered", "attempts", dec.Attempts, "reason", dec.Reason)
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

// DeadLetters implements mp3converter.DeadLetterStore. It takes the dead
// letters without acking them and closes its channel, which returns them.
func (q *Queue) DeadLetters(ctx context.Context, queue string) ([]mp3converter.DeadLetter, error) {
	ch, err := q.adminChannel(queue)
	if err != nil {
		return nil, err
	}
	defer ch.Close()
	var out []mp3converter.DeadLetter
	for len(out) < mp3converter.MaxListedDeadLetters {
		d, ok, err := ch.Get(mp3converter.DeadLetterQueue(queue), false)
		if err != nil {
			return nil, fmt.Errorf("rabbitmq dead letters: %w", err)
		}
		if !ok {
			break
		}
		at, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(d.Headers["x-dead-at"]))
		reason, _ := d.Headers["x-reason"].(string)
		from, _ := d.Headers["x-queue"].(string)
		if from == "" {
			from = queue
		}
		out = append(out, mp3converter.DeadLetter{ID: d.MessageId, Queue: from, Body: d.Body, Reason: reason,
			Attempts: header(d, "x-attempts"), At: at})
	}
	return out, nil
}

// Requeue implements mp3converter.DeadLetterStore.
func (q *Queue) Requeue(ctx context.Context, queue, id string) error {
	ch, err := q.adminChannel(queue)
	if err != nil {
		return err
	}
	defer ch.Close()
	for {
		d, ok, err := ch.Get(mp3converter.DeadLetterQueue(queue), false)
		if err != nil {
			return fmt.Errorf("rabbitmq requeue: %w", err)
		}
		if !ok {
			return fmt.Errorf("dead letter %s: %w", id, mp3converter.ErrNotFound)
		}
		if d.MessageId != id {
			continue // returned to the queue when the channel closes
		}
		p := amqp.Publishing{Body: d.Body, ContentType: d.ContentType, MessageId: d.MessageId, Headers: amqp.Table{"x-attempt": int32(1)}}
		if err := q.publish(ctx, queue, queue, p); err != nil {
			return err
		}
		return d.Ack(false)
	}
}

// Depth implements mp3converter.QueueCounter: the broker's count of ready
// messages, by a passive declare, which creates nothing. Q.retry's
// messages, waiting out their backoff, are not counted, nor unacked ones.
func (q *Queue) Depth(ctx context.Context, queue string) (int, error) {
	ch, err := q.channel()
	if err != nil {
		return 0, err
	}
	defer ch.Close()
	st, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
	var ae *amqp.Error
	switch {
	case errors.As(err, &ae) && ae.Code == amqp.NotFound:
		return 0, nil // never used
	case err != nil:
		return 0, fmt.Errorf("rabbitmq depth of %s: %w: %w", queue, mp3converter.ErrUnavailable, err)
	}
	return st.Messages, nil
}

// channel opens a channel on the connection.
func (q *Queue) channel() (*amqp.Channel, error) {
	conn, err := q.connection()
	if err != nil {
		return nil, err
	}
	ch, err := conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("rabbitmq channel: %w: %w", mp3converter.ErrUnavailable, err)
	}
	return ch, nil
}

func (q *Queue) adminChannel(queue string) (*amqp.Channel, error) {
	ch, err := q.channel()
	if err != nil {
		return nil, err
	}
	if err := q.declare(ch, queue); err != nil {
		ch.Close()
		return nil, err
	}
	return ch, nil
}

// Ping checks that the broker is reachable, for readiness probes. Its error
// wraps mp3converter.ErrUnavailable.
func (q *Queue) Ping(ctx context.Context) error {
	_, err := q.connection()
	if err != nil && !errors.Is(err, mp3converter.ErrUnavailable) { // dial errors wrap it already
		err = fmt.Errorf("rabbitmq ping: %w: %w", mp3converter.ErrUnavailable, err)
	}
	return err
}
