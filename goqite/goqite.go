// Package goqite implements mp3converter.Queue on maragu.dev/goqite: a
// durable queue in a table of the SQLite database that also holds users and
// jobs, for running everything on one machine.
//
// goqite hides a received message for a visibility timeout; a consumer keeps
// extending it while its handler runs, so a message reappears only if its
// consumer dies. Attempts are goqite's receive count. Retries are the same
// row made visible again after the backoff; dead letters move, in one
// transaction, to the queue "<name>.dead". A handler waiting out an engine's
// outage (ActionWait) has its message made visible again uncounted, and its
// consumer pauses.
package goqite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"maragu.dev/goqite"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/internal/sqldb"
)

// Options configure a Queue. Zero values take the defaults.
type Options struct {
	Policy mp3converter.RetryPolicy // DefaultRetryPolicy if MaxAttempts is 0
	// Visibility is how long a received message stays hidden without a
	// heartbeat: how soon a dead consumer's message is redelivered (30 s).
	Visibility time.Duration
	// Poll is how often idle consumers look for due messages (200 ms).
	// Messages published through this Queue wake its consumers at once.
	Poll   time.Duration
	Logger *slog.Logger
}

// Queue is an embedded queue on a SQLite database that has goqite's table.
type Queue struct {
	db   *sql.DB
	opts Options

	mu     sync.Mutex
	queues map[string]*goqite.Queue
	wakers map[string]*waker
	due    *sql.Stmt // see anyDue; nil until prepared
	// closing is done once Close is called; a context because cancelling
	// one is idempotent and its Err says whether it happened.
	closing context.Context
	stop    context.CancelFunc
}

var (
	_ mp3converter.Queue           = (*Queue)(nil)
	_ mp3converter.DeadLetterStore = (*Queue)(nil)
	_ mp3converter.QueueCounter    = (*Queue)(nil)
)

// New returns a queue on db, which must hold goqite's table (package sqlite
// creates it).
func New(db *sql.DB, opts Options) *Queue {
	if opts.Policy.MaxAttempts == 0 {
		opts.Policy = mp3converter.DefaultRetryPolicy
	}
	if opts.Visibility <= 0 {
		opts.Visibility = 30 * time.Second
	}
	if opts.Poll <= 0 {
		opts.Poll = 200 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	q := &Queue{db: db, opts: opts, queues: map[string]*goqite.Queue{}, wakers: map[string]*waker{}}
	q.closing, q.stop = context.WithCancel(context.Background())
	return q
}

func (q *Queue) queue(name string) (*goqite.Queue, *waker) {
	q.mu.Lock()
	defer q.mu.Unlock()
	gq, ok := q.queues[name]
	if !ok {
		// Attempts are counted and capped here, not by goqite.
		gq = goqite.New(goqite.NewOpts{DB: q.db, Name: name, MaxReceive: math.MaxInt32, Timeout: q.opts.Visibility})
		q.queues[name] = gq
		q.wakers[name] = newWaker()
	}
	return gq, q.wakers[name]
}

// Publish implements mp3converter.Queue.
func (q *Queue) Publish(ctx context.Context, name string, body []byte) error {
	gq, w := q.queue(name)
	if err := gq.Send(ctx, goqite.Message{Body: body}); err != nil {
		return fmt.Errorf("goqite publish to %s: %w: %w", name, mp3converter.ErrUnavailable, err)
	}
	w.wake()
	return nil
}

// Close stops this Queue's consumers from taking messages and from
// answering the ones in flight, as if the process had died: those messages
// are redelivered after the visibility timeout. The database stays open.
func (q *Queue) Close() error {
	q.stop()
	return nil
}

// Consume implements mp3converter.Queue.
func (q *Queue) Consume(ctx context.Context, name string, h mp3converter.Handler) error {
	gq, w := q.queue(name)
	log := q.opts.Logger.With("queue", name)
	waiter := mp3converter.Waiter{Policy: q.opts.Policy}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if q.closing.Err() != nil {
			return errors.New("goqite: queue closed")
		}
		woken := w.wait()
		var m *goqite.Message
		var err error
		if q.anyDue(ctx, name) {
			if m, err = gq.Receive(context.WithoutCancel(ctx)); err != nil {
				log.Warn("QueueReceiveFailed", "err", err)
			}
		}
		if err != nil || m == nil {
			select {
			case <-ctx.Done():
			case <-q.closing.Done():
			case <-woken:
			case <-time.After(q.opts.Poll):
			}
			continue
		}
		if pause := waiter.After(q.handle(ctx, gq, name, m, h, log)); pause > 0 {
			log.Info("ConsumerPaused", "for", pause)
			select { // an engine is down: take nothing meanwhile
			case <-ctx.Done():
			case <-q.closing.Done():
			case <-time.After(pause):
			}
		}
	}
}

// anyDue reports whether queue name may hold a message due now, with a
// read that is prepared once. A receive is a write transaction whose SQL
// is parsed anew each time: idle consumers' polls, and the consumers a
// publish wakes but another beats, made 6 of those a job, each one empty.
// Where the read fails, it reports true: the receive then reports why.
func (q *Queue) anyDue(ctx context.Context, name string) bool {
	q.mu.Lock()
	if q.due == nil {
		q.due, _ = q.db.PrepareContext(context.WithoutCancel(ctx), `SELECT EXISTS (SELECT 1 FROM goqite WHERE queue = ? AND timeout <= ?)`)
	}
	due := q.due
	q.mu.Unlock()
	if due == nil {
		return true
	}
	var some bool
	if err := due.QueryRowContext(context.WithoutCancel(ctx), name, time.Now().UTC().Format(rfc3339Milli)).Scan(&some); err != nil {
		return true
	}
	return some
}

// handle runs h on m and carries out the decision, which it returns; the
// zero Decision when m is left unanswered.
func (q *Queue) handle(ctx context.Context, gq *goqite.Queue, name string, m *goqite.Message, h mp3converter.Handler, log *slog.Logger) mp3converter.Decision {
	bg := context.WithoutCancel(ctx)
	log = log.With("message_id", string(m.ID))
	var attempt int
	if err := q.db.QueryRowContext(bg, `SELECT received FROM goqite WHERE id = ?`, string(m.ID)).Scan(&attempt); err != nil {
		log.Warn("QueueReceiveFailed", "err", err) // the message reappears after the visibility timeout
		return mp3converter.Decision{}
	}
	policy := q.opts.Policy
	var err error
	// Past the last attempt the earlier deliveries went unanswered (their
	// consumers died): the handler must not run, and Decide ignores err.
	if !policy.Exhausted(attempt) {
		err = q.run(bg, gq, m, h, attempt, log)
		if q.closing.Err() != nil {
			return mp3converter.Decision{} // as if we had died: no answer
		}
	}
	dec := policy.Decide(attempt, err)
	q.carryOut(bg, gq, name, m, attempt, dec, log)
	return dec
}

// run calls h, keeping m hidden meanwhile.
func (q *Queue) run(ctx context.Context, gq *goqite.Queue, m *goqite.Message, h mp3converter.Handler, attempt int, log *slog.Logger) error {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // heartbeat
		defer wg.Done()
		t := time.NewTicker(q.opts.Visibility / 3)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-q.closing.Done():
				return
			case <-t.C:
				if err := gq.Extend(ctx, m.ID, q.opts.Visibility); err != nil {
					log.Warn("QueueExtendFailed", "err", err)
				}
			}
		}
	}()
	err := h(ctx, mp3converter.Delivery{Body: m.Body, Attempt: attempt, Final: q.opts.Policy.Final(attempt)})
	close(stop)
	wg.Wait()
	return err
}

// carryOut does what dec says with m, delivered for the attempt-th time.
func (q *Queue) carryOut(ctx context.Context, gq *goqite.Queue, name string, m *goqite.Message, attempt int, dec mp3converter.Decision, log *slog.Logger) {
	switch dec.Action {
	case mp3converter.ActionAck:
		if err := gq.Delete(ctx, m.ID); err != nil {
			log.Error("QueueAckFailed", "err", err)
		}
	case mp3converter.ActionHandBack, mp3converter.ActionWait:
		if dec.Action == mp3converter.ActionWait {
			log.Warn("QueueWaiting", "attempt", attempt, "err", dec.Reason)
		}
		// Visible again at once, and this delivery does not count.
		_, err := q.db.ExecContext(ctx, `UPDATE goqite SET received = received - 1, timeout = ? WHERE queue = ? AND id = ?`,
			time.Now().UTC().Format(rfc3339Milli), name, string(m.ID))
		if err != nil {
			log.Error("QueueHandBackFailed", "err", err)
		}
		q.wake(name)
	case mp3converter.ActionDeadLetter:
		q.deadLetter(ctx, gq, name, m, dec, log)
	case mp3converter.ActionRetry:
		// The same row, hidden for the backoff; goqite counts the receive.
		log.Info("QueueRetryScheduled", "attempt", attempt, "delay", dec.Delay, "err", dec.Reason)
		if err := gq.Extend(ctx, m.ID, dec.Delay); err != nil {
			log.Error("QueueRetryFailed", "err", err)
		}
	}
}

// rfc3339Milli is goqite's time format.
const rfc3339Milli = "2006-01-02T15:04:05.000Z07:00"

// deadEnvelope is the body of a message on a dead-letter queue.
type deadEnvelope struct {
	Queue    string    `json:"queue"`
	Body     []byte    `json:"body"`
	Reason   string    `json:"reason"`
	Attempts int       `json:"attempts"`
	At       time.Time `json:"at"`
}

func (q *Queue) deadLetter(ctx context.Context, gq *goqite.Queue, name string, m *goqite.Message, dec mp3converter.Decision, log *slog.Logger) {
	env, _ := json.Marshal(deadEnvelope{Queue: name, Body: m.Body, Reason: dec.Reason, Attempts: dec.Attempts, At: time.Now().UTC()})
	dead, _ := q.queue(mp3converter.DeadLetterQueue(name))
	err := sqldb.InTx(ctx, q.db, func(tx *sql.Tx) error {
		if err := dead.SendTx(ctx, tx, goqite.Message{Body: env}); err != nil {
			return err
		}
		return gq.DeleteTx(ctx, tx, m.ID)
	})
	if err != nil {
		log.Error("QueueDeadLetterFailed", "err", err)
		return
	}
	log.Warn("QueueDeadLettered", "attempts", dec.Attempts, "reason", dec.Reason)
}

func (q *Queue) wake(name string) {
	_, w := q.queue(name)
	w.wake()
}

// DeadLetters implements mp3converter.DeadLetterStore.
func (q *Queue) DeadLetters(ctx context.Context, name string) ([]mp3converter.DeadLetter, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT id, body FROM goqite WHERE queue = ? ORDER BY created, id LIMIT ?`,
		mp3converter.DeadLetterQueue(name), mp3converter.MaxListedDeadLetters)
	if err != nil {
		return nil, fmt.Errorf("goqite dead letters: %w", err)
	}
	defer rows.Close()
	var out []mp3converter.DeadLetter
	for rows.Next() {
		var id string
		var body []byte
		if err := rows.Scan(&id, &body); err != nil {
			return nil, err
		}
		var env deadEnvelope
		if err := json.Unmarshal(body, &env); err != nil {
			return nil, fmt.Errorf("goqite dead letter %s: %w", id, err)
		}
		out = append(out, mp3converter.DeadLetter{ID: id, Queue: env.Queue, Body: env.Body, Reason: env.Reason, Attempts: env.Attempts, At: env.At})
	}
	return out, rows.Err()
}

// Requeue implements mp3converter.DeadLetterStore.
func (q *Queue) Requeue(ctx context.Context, name, id string) error {
	gq, _ := q.queue(name)
	dead, _ := q.queue(mp3converter.DeadLetterQueue(name))
	err := sqldb.InTx(ctx, q.db, func(tx *sql.Tx) error {
		var body []byte
		err := tx.QueryRowContext(ctx, `SELECT body FROM goqite WHERE queue = ? AND id = ?`, mp3converter.DeadLetterQueue(name), id).Scan(&body)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("dead letter %s: %w", id, mp3converter.ErrNotFound)
		}
		if err != nil {
			return err
		}
		var env deadEnvelope
		if err := json.Unmarshal(body, &env); err != nil {
			return err
		}
		if err := gq.SendTx(ctx, tx, goqite.Message{Body: env.Body}); err != nil {
			return err
		}
		return dead.DeleteTx(ctx, tx, goqite.ID(id))
	})
	if err != nil {
		return fmt.Errorf("goqite requeue %s: %w", id, err)
	}
	q.wake(name)
	return nil
}

// Depth implements mp3converter.QueueCounter: the messages visible now.
// A hidden one is held by a consumer or waits out a retry's backoff.
func (q *Queue) Depth(ctx context.Context, name string) (int, error) {
	var n int
	err := q.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM goqite WHERE queue = ? AND timeout <= ?`,
		name, time.Now().UTC().Format(rfc3339Milli)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("goqite depth of %s: %w: %w", name, mp3converter.ErrUnavailable, err)
	}
	return n, nil
}

// Recover makes every hidden message visible now. Call it at start-up only
// when no other process consumes from the database (serve holds a lock on
// its data dir): the messages of a process that died are then redelivered at
// once instead of after the visibility timeout. Retries waiting out their
// backoff come due early too. It returns how many messages it released.
func (q *Queue) Recover(ctx context.Context) (int64, error) {
	now := time.Now().UTC().Format(rfc3339Milli)
	res, err := q.db.ExecContext(ctx, `UPDATE goqite SET timeout = ? WHERE timeout > ?`, now, now)
	if err != nil {
		return 0, fmt.Errorf("goqite recover: %w", err)
	}
	return res.RowsAffected()
}

// Ping checks that the database answers, for readiness probes. Its error
// wraps mp3converter.ErrUnavailable.
func (q *Queue) Ping(ctx context.Context) error { return sqldb.Ping(ctx, q.db, "goqite") }

// waker lets consumers sleep until a publish, without losing a wake-up that
// comes between their check and their sleep: take wait() before checking.
type waker struct {
	mu sync.Mutex
	ch chan struct{}
}

func newWaker() *waker { return &waker{ch: make(chan struct{})} }

func (w *waker) wait() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ch
}

func (w *waker) wake() {
	w.mu.Lock()
	defer w.mu.Unlock()
	close(w.ch)
	w.ch = make(chan struct{})
}
