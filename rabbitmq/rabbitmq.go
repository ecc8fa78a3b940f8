// Package rabbitmq implements mp3converter.Queue on RabbitMQ with
// github.com/rabbitmq/amqp091-go, on the wire as the seed's services use it:
// durable queues named video and mp3 on the default exchange, persistent
// JSON messages.
//
// For each queue Q it declares three durable queues: Q itself, Q.retry,
// whose messages return to Q when their per-message TTL (the backoff)
// expires, and Q.dead for dead letters. They are classic queues by default,
// Q with no arguments (so it matches queues the seed made by hand), or, with
// Options.QueueType "quorum", all three quorum queues, replicated on the
// nodes of a cluster, which survive the loss of a minority of them (Q.retry
// then dead-letters at least once: an expired message leaves it only once Q
// has it). RabbitMQ refuses to redeclare a queue as another type
// (PRECONDITION_FAILED): a deployment changes type on new or emptied and
// deleted queues, or in a new vhost. The attempt number travels in the
// x-attempt header. Publishes wait for the broker's confirm. Each Consume
// call has its own channel with a prefetch of one and acks by hand; a
// message is acked only after whatever replaces it (retry, dead letter,
// hand-back) is confirmed, so a crash at any point loses nothing; if the
// broker refuses the replacement, the message goes back to its queue.
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
// with mp3converter.ErrUnavailable. The URL may list the nodes of a
// cluster, comma-separated: a dial tries them in turn, starting after the
// one that failed last, so that clients move to a live node. A publish in
// flight when its node dies fails with ErrUnavailable though the broker may
// have kept it; a delivery whose channel died is not copied back (the broker
// returns it to its queue itself). Either way a message may arrive twice,
// as after any lost answer, and handlers are idempotent.
//
// A known limit: Q.retry expires messages in order, so a message with a long
// backoff delays shorter ones queued behind it.
package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/internal/redact"
)

// The queue types of Options.QueueType.
const (
	Classic = "classic" // a queue on one node: the seed's, and the default
	Quorum  = "quorum"  // replicated on the cluster's nodes (Raft)
)

// Options configure a Queue. Zero values take the defaults.
type Options struct {
	Policy         mp3converter.RetryPolicy // DefaultRetryPolicy if MaxAttempts is 0
	QueueType      string                   // Classic ("") or Quorum, for Q, Q.retry and Q.dead
	Prefetch       int                      // unacked messages per consumer (1)
	DialTimeout    time.Duration            // 5 s
	ReconnectDelay time.Duration            // longest wait between reconnects (10 s)
	ConnectionName string                   // shown in the management console
	Logger         *slog.Logger
}

// Queue is a client of one RabbitMQ broker, or of a cluster's nodes.
type Queue struct {
	urls     []string // the nodes, tried in turn
	displays []string // urls without passwords
	opts     Options

	mu       sync.Mutex
	conn     *amqp.Connection
	node     int           // the index in urls of conn's node
	next     int           // the node a dial tries first
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

// New returns a client of the broker at rawURL (amqp:// or amqps://), or
// of the nodes of a cluster at a comma-separated list of such URLs. It does
// not connect until first used. Its error names the bad URL or queue type.
func New(rawURL string, opts Options) (*Queue, error) {
	q := &Queue{uncounted: map[string]bool{}}
	for _, u := range strings.Split(rawURL, ",") {
		u = strings.TrimSpace(u)
		if _, err := amqp.ParseURI(u); err != nil {
			// amqp's error quotes the URL, password and all.
			return nil, fmt.Errorf("queue URL %s: want amqp://user:pass@host:5672/vhost (or amqps://), or several, comma-separated", redact.URL(u))
		}
		q.urls, q.displays = append(q.urls, u), append(q.displays, redact.URL(u))
	}
	switch opts.QueueType {
	case "":
		opts.QueueType = Classic
	case Classic, Quorum:
	default:
		return nil, fmt.Errorf("queue type %q: want %s or %s", opts.QueueType, Classic, Quorum)
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
	q.opts = opts
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

// connection returns the open connection, dialling if there is none: the
// nodes in turn, from the one after the node that failed last, each within
// the dial timeout.
func (q *Queue) connection() (*amqp.Connection, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closing.Err() != nil {
		return nil, errClosed
	}
	if q.conn != nil {
		if !q.conn.IsClosed() {
			return q.conn, nil
		}
		// Its node failed (or closed it): start with the next.
		q.conn, q.next = nil, (q.node+1)%len(q.urls)
	}
	var errs []error
	for range q.urls {
		i := q.next
		conn, err := amqp.DialConfig(q.urls[i], amqp.Config{
			Dial:       amqp.DefaultDial(q.opts.DialTimeout),
			Heartbeat:  10 * time.Second,
			Properties: amqp.Table{"connection_name": q.opts.ConnectionName},
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", q.displays[i], redact.Error(err, q.urls[i])))
			q.next = (i + 1) % len(q.urls)
			continue
		}
		q.conn, q.node, q.declared = conn, i, map[string]bool{}
		q.opts.Logger.Info("QueueConnected", "broker", q.displays[i], "nodes", len(q.urls))
		return conn, nil
	}
	return nil, fmt.Errorf("rabbitmq: %w: %w", mp3converter.ErrUnavailable, errors.Join(errs...))
}

// declare makes queue's topology exist, once per connection.
func (q *Queue) declare(ch *amqp.Channel, queue string) error {
	q.mu.Lock()
	done := q.declared[queue]
	q.mu.Unlock()
	if done {
		return nil
	}
	for _, d := range topology(queue, q.opts.QueueType) {
		_, err := ch.QueueDeclare(d.name, true, false, false, false, d.args)
		var ae *amqp.Error
		if errors.As(err, &ae) && ae.Code == amqp.PreconditionFailed {
			return fmt.Errorf("declare queue %s: it exists as another type (not %s) or with other arguments: %w", d.name, q.opts.QueueType, err)
		}
		if err != nil {
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

// declaration is one queue of a topology.
type declaration struct {
	name string
	args amqp.Table
}

// topology is what declare declares for queue: Q, Q.retry and Q.dead, of
// kind (Classic or Quorum).
func topology(queue, kind string) []declaration {
	retry := amqp.Table{"x-dead-letter-exchange": "", "x-dead-letter-routing-key": queue}
	if kind != Quorum {
		return []declaration{{queue, nil}, {queue + ".retry", retry}, {mp3converter.DeadLetterQueue(queue), nil}}
	}
	quorum := func(t amqp.Table) amqp.Table {
		t["x-queue-type"] = Quorum
		return t
	}
	// At-most-once, the default, would drop a message that expires while
	// Q has no leader; at-least-once needs reject-publish on overflow.
	retry["x-dead-letter-strategy"], retry["x-overflow"] = "at-least-once", "reject-publish"
	return []declaration{{queue, quorum(amqp.Table{})}, {queue + ".retry", quorum(retry)},
		{mp3converter.DeadLetterQueue(queue), quorum(amqp.Table{})}}
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
	if !ok && ch.IsClosed() {
		// The broker may have kept it: the caller's retry may duplicate it.
		return fmt.Errorf("rabbitmq publish to %s: %w: the connection closed before the broker confirmed", key, mp3converter.ErrUnavailable)
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
