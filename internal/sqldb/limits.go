package sqldb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/mp3converter/mp3converter"
)

// Limits keeps mp3converter.Limits in three tables, so that every gateway
// on the database counts alike:
//
//   - limit_lock, a row per key, which a reservation updates first: the
//     row lock serialises the reservations of one key across processes
//     (MySQL), as SQLite's immediate transactions do anyway;
//   - limit_event, a row per counted event (a failed login), by key and
//     time;
//   - limit_lease, a row per lease, held by a process (Holder) that renews
//     them all with one statement every TTL/3 (Run): the leases of a
//     process that died expire after TTL.
//
// A reservation is one transaction of a few statements: logins are rare
// next to the requests it guards.
type Limits struct {
	DB      *sql.DB
	Dialect Dialect
	// Holder names this process's leases; TTL is how long one lasts
	// without renewal (90 s if 0).
	Holder string
	TTL    time.Duration
}

var _ mp3converter.Limits = (*Limits)(nil)

// NewLimits returns the limits on db, held by a process of a random name.
func (db *DB) NewLimits() *Limits {
	return &Limits{DB: db.DB, Dialect: db.Users.Dialect, Holder: rand.Text()[:16]}
}

func (l *Limits) ttl() time.Duration {
	if l.TTL > 0 {
		return l.TTL
	}
	return 90 * time.Second
}

// errNoLock: a key's lock row is missing; inTx makes it and tries again.
var errNoLock = errors.New("a lock row is missing")

// lock takes the row locks of keys, in order so that two transactions
// never wait for each other. It returns errNoLock if a row is missing:
// inserting it here, under the gap locks of a search that found nothing,
// would deadlock with a transaction doing the same.
func (l *Limits) lock(ctx context.Context, tx *sql.Tx, keys []string, now time.Time) error {
	args := append([]any{micros(now)}, anySlice(keys)...)
	res, err := tx.ExecContext(ctx, `UPDATE limit_lock SET touched_at = ? WHERE name IN (`+placeholders(len(keys))+`)`, args...)
	if err != nil {
		return unavailable("limits lock", err)
	}
	if n, _ := res.RowsAffected(); int(n) < len(keys) {
		return errNoLock
	}
	return nil
}

// inTx runs fn in a transaction that first locks keys, making their lock
// rows, each in a statement of its own, when they are missing.
func (l *Limits) inTx(ctx context.Context, keys []string, fn func(tx *sql.Tx, now time.Time) error) error {
	keys = slices.Compact(slices.Sorted(slices.Values(keys)))
	for try := 0; ; try++ {
		now := time.Now()
		err := InTx(ctx, l.DB, func(tx *sql.Tx) error {
			if err := l.lock(ctx, tx, keys, now); err != nil {
				return err
			}
			return fn(tx, now)
		})
		if !errors.Is(err, errNoLock) || try == 2 {
			return err
		}
		for _, k := range keys {
			_, err := l.DB.ExecContext(ctx, `INSERT INTO limit_lock (name, touched_at) VALUES (?, ?)`, k, micros(now))
			if err != nil && !l.Dialect.IsDuplicate(err) {
				return unavailable("limits lock", err)
			}
		}
	}
}

// Reserve implements mp3converter.Limits.
func (l *Limits) Reserve(ctx context.Context, now time.Time, keys []mp3converter.LimitKey) (string, time.Duration, error) {
	id := rand.Text()[:20]
	var wait time.Duration
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = k.Key
	}
	err := l.inTx(ctx, names, func(tx *sql.Tx, _ time.Time) error {
		wait = 0
		for _, k := range keys {
			w, err := l.wait(ctx, tx, k, now)
			if err != nil {
				return err
			}
			wait = max(wait, w)
		}
		if wait > 0 {
			return nil
		}
		for _, k := range keys {
			if _, err := tx.ExecContext(ctx, `INSERT INTO limit_event (id, name, at) VALUES (?, ?, ?)`, id, k.Key, micros(now)); err != nil {
				return unavailable("limits reserve", err)
			}
		}
		return nil
	})
	if err != nil || wait > 0 {
		return "", wait, err
	}
	return id, 0, nil
}

// wait is how long until k has room for one more event: 0 if it has now.
func (l *Limits) wait(ctx context.Context, tx *sql.Tx, k mp3converter.LimitKey, now time.Time) (time.Duration, error) {
	if k.Limit <= 0 {
		return 0, nil
	}
	// The Limit-th newest event in the window: the window has room once
	// it leaves.
	var at int64
	err := tx.QueryRowContext(ctx, `SELECT at FROM limit_event WHERE name = ? AND at > ? ORDER BY at DESC LIMIT 1 OFFSET ?`,
		k.Key, micros(now.Add(-k.Window)), k.Limit-1).Scan(&at)
	switch {
	case err == sql.ErrNoRows:
		return 0, nil
	case err != nil:
		return 0, unavailable("limits count", err)
	}
	return max(fromMicros(at).Add(k.Window).Sub(now), time.Microsecond), nil
}

// Release implements mp3converter.Limits.
func (l *Limits) Release(ctx context.Context, id string) error {
	_, err := l.DB.ExecContext(ctx, `DELETE FROM limit_event WHERE id = ?`, id)
	return unavailable("limits release", err)
}

// Lease implements mp3converter.Limits.
func (l *Limits) Lease(ctx context.Context, kind, owner string, perOwner int) (func(), bool, error) {
	id := rand.Text()[:20]
	ok := false
	err := l.inTx(ctx, []string{"lease:" + kind + "|" + owner}, func(tx *sql.Tx, now time.Time) error {
		if perOwner > 0 {
			var n int
			err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM limit_lease WHERE kind = ? AND owner = ? AND expires_at > ?`,
				kind, owner, micros(now)).Scan(&n)
			if err != nil {
				return unavailable("limits lease", err)
			}
			if n >= perOwner {
				return nil
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO limit_lease (id, kind, owner, holder, expires_at) VALUES (?, ?, ?, ?, ?)`,
			id, kind, owner, l.Holder, micros(now.Add(l.ttl())))
		ok = err == nil
		return unavailable("limits lease", err)
	})
	if err != nil || !ok {
		return nil, false, err
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			l.DB.ExecContext(ctx, `DELETE FROM limit_lease WHERE id = ?`, id) // else it expires
		})
	}, true, nil
}

// Run renews this process's leases every TTL/3 and removes what has
// expired (leases, and events and locks over a day old), until ctx ends.
func (l *Limits) Run(ctx context.Context) {
	t := time.NewTicker(l.ttl() / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		for _, q := range []struct {
			sql  string
			args []any
		}{
			{`UPDATE limit_lease SET expires_at = ? WHERE holder = ?`, []any{micros(now.Add(l.ttl())), l.Holder}},
			{`DELETE FROM limit_lease WHERE expires_at < ?`, []any{micros(now)}},
			{`DELETE FROM limit_event WHERE at < ?`, []any{micros(now.Add(-25 * time.Hour))}},
			{`DELETE FROM limit_lock WHERE touched_at < ?`, []any{micros(now.Add(-25 * time.Hour))}},
		} {
			l.DB.ExecContext(ctx, q.sql, q.args...) // a failure is retried at the next tick
		}
	}
}

func anySlice(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}
