package mp3converter

import (
	"context"
	"errors"
	"time"
)

// Queue carries messages between roles, at least once: a message published
// is delivered until a handler accepts it, and may be delivered twice, so
// handlers are idempotent.
type Queue interface {
	// Publish stores body on the named queue. When it returns nil the message
	// is durable: it survives a crash of the publisher or the queue.
	Publish(ctx context.Context, queue string, body []byte) error
	// Consume hands the named queue's messages to h, one at a time, until
	// ctx ends; then it waits for the call in flight and returns ctx.Err().
	// h's context is not cancelled with ctx: the handler bounds its own work
	// (see ErrShutdown). What happens to a message depends on h's result:
	//   - nil: the message is removed;
	//   - a Permanent error: the message moves to the dead-letter queue;
	//   - ErrShutdown: the message goes back at once, not counted as an attempt;
	//   - an error wrapping ErrUnavailable, or a full disk (IsUnavailable):
	//     the same, and this consumer takes no message for a pause that grows
	//     while such errors go on (RetryPolicy.Pause), so an engine's outage
	//     is waited out and spends no attempt;
	//   - any other error: the message is delivered again after the retry
	//     policy's backoff, and dead-lettered after its last attempt.
	// Run several Consume calls for parallel handlers.
	Consume(ctx context.Context, queue string, h Handler) error
	// Ping returns nil while the queue's service answers, else an error
	// wrapping ErrUnavailable: the readiness check.
	Ping(ctx context.Context) error
	// Close stops consuming and releases the connection; the queue is not
	// used after.
	Close() error
}

// Handler handles one delivery. See Queue.Consume for what its result means.
type Handler func(ctx context.Context, d Delivery) error

// Delivery is one delivery of a message.
type Delivery struct {
	Body []byte
	// Attempt counts deliveries of this message from 1. A delivery that was
	// never answered, because its consumer died, counts.
	Attempt int
	// Final is true when no retry follows a failure of this attempt.
	Final bool
}

// ErrShutdown is returned by a handler that stopped because its process is
// shutting down; the queue hands the message to the next consumer.
var ErrShutdown = errors.New("shutting down: message handed back")

// DeadLetter is a message that could not be handled.
type DeadLetter struct {
	ID       string
	Queue    string // the queue it came from
	Body     []byte
	Reason   string // the last handler error, at most MaxReasonBytes
	Attempts int
	At       time.Time
}

// DeadLetterStore is implemented by queues whose dead letters can be listed
// and re-queued, for operators.
type DeadLetterStore interface {
	// DeadLetters lists the dead letters of queue, oldest first, at most
	// MaxListedDeadLetters of them.
	DeadLetters(ctx context.Context, queue string) ([]DeadLetter, error)
	// Requeue moves dead letter id back onto queue as a first attempt.
	// ErrNotFound if there is no such dead letter.
	Requeue(ctx context.Context, queue, id string) error
}

// MaxListedDeadLetters caps DeadLetterStore.DeadLetters, which holds what it
// lists in memory; requeueing the listed ones brings the rest into view.
const MaxListedDeadLetters = 1000

// QueueCounter is implemented by queues that count their messages cheaply,
// for metrics.
type QueueCounter interface {
	// Depth counts the messages of queue ready for a consumer: not held by
	// one, not waiting out a retry's backoff. A queue never used holds 0.
	// DeadLetterQueue(q) counts q's dead letters.
	Depth(ctx context.Context, queue string) (int, error)
}
