// Package sqldb implements mp3converter.UserStore and JobStore over
// database/sql, for the sqlite and mysql packages, which differ only in
// their schema and a few dialect details. Times are stored as Unix
// microseconds so that both engines order and compare them the same way.
package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mp3converter/mp3converter"
)

// Dialect holds what differs between engines.
type Dialect struct {
	Name string
	// ForUpdate is appended to a SELECT that starts a read-modify-write
	// ("FOR UPDATE" in MySQL; SQLite's immediate transactions lock anyway).
	ForUpdate string
	// IsDuplicate reports a unique-key violation.
	IsDuplicate func(error) bool
}

// Migration is one schema step, applied once, in order.
type Migration struct {
	Version int
	SQL     []string
	// Func, if set, runs after SQL on the same connection, for steps that
	// must look before they act (such as adding a column only if missing).
	// Like SQL, it must be safe to re-run.
	Func func(ctx context.Context, conn *sql.Conn) error
}

// LowerOwners is the migration that keeps the jobs and webhooks of one
// account under one owner: mp3converter.Owner's, lower case, as every
// writer now stores it. Earlier, a gateway stored the spelling of the
// token's username ("Mixed.Case@Example.COM" from the original auth) and
// a converter the normalised one, and the owner's own requests missed
// some of their jobs. (Owner also applies NFKC, which SQL cannot: such
// addresses were refused at sign-up.)
var LowerOwners = []string{
	`UPDATE job SET owner = LOWER(TRIM(owner))`,
	`UPDATE webhook SET owner = LOWER(TRIM(owner))`,
}

// Migrate applies the migrations not yet recorded in schema_migrations.
// Concurrent starts are safe where lock serialises them.
func Migrate(ctx context.Context, db *sql.DB, lock func(context.Context, *sql.Conn) (unlock func(), err error), migrations []Migration) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Close()
	if lock != nil {
		unlock, err := lock(ctx, conn)
		if err != nil {
			return fmt.Errorf("migrate: lock: %w", err)
		}
		defer unlock()
	}
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER NOT NULL PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var current int
	if err := conn.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, m := range migrations {
		if m.Version <= current {
			continue
		}
		// MySQL commits DDL implicitly, so each statement stands alone and
		// is written to be safe to re-run.
		for _, stmt := range m.SQL {
			if _, err := conn.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("migrate to version %d: %w\n%s", m.Version, err, stmt)
			}
		}
		if m.Func != nil {
			if err := m.Func(ctx, conn); err != nil {
				return fmt.Errorf("migrate to version %d: %w", m.Version, err)
			}
		}
		if _, err := conn.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, m.Version, micros(time.Now())); err != nil {
			return fmt.Errorf("migrate to version %d: %w", m.Version, err)
		}
	}
	return nil
}

func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

// InTx runs fn in a transaction, committing if it returns nil. It returns
// fn's error as is, and marks failures to begin or commit ErrUnavailable.
func InTx(ctx context.Context, db *sql.DB, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return unavailable("begin", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return unavailable("commit", tx.Commit())
}

// unavailable marks connection-level failures, so callers can tell "the
// database is down" (retry later) from a bug.
func unavailable(op string, err error) error {
	if err == nil {
		return nil
	}
	var e *mp3converter.Error
	if errors.As(err, &e) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", op, err)
	}
	return fmt.Errorf("%s: %w: %w", op, mp3converter.ErrUnavailable, err)
}

func placeholders(n int) string { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }

// queryAll runs a query and scans every row with scan; op names it in errors.
func queryAll[T any](ctx context.Context, db *sql.DB, op string, scan func(interface{ Scan(...any) error }) (T, error), query string, args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, unavailable(op, err)
	}
	defer rows.Close()
	var all []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, unavailable(op, err)
		}
		all = append(all, v)
	}
	return all, unavailable(op, rows.Err())
}

// queryOne runs a query for one row and scans it with scan: no row is
// ErrNotFound, named by what.
func queryOne[T any](ctx context.Context, db interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, what string, scan func(interface{ Scan(...any) error }) (T, error), query string, args ...any) (T, error) {
	v, err := scan(db.QueryRowContext(ctx, query, args...))
	var zero T
	if errors.Is(err, sql.ErrNoRows) {
		return zero, fmt.Errorf("%s: %w", what, mp3converter.ErrNotFound)
	}
	if err != nil {
		return zero, unavailable("get "+what, err)
	}
	return v, nil
}

// deleteOne runs a DELETE of one row; ErrNotFound, naming what, if there
// was none.
func deleteOne(ctx context.Context, db interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, what, query string, args ...any) error {
	res, err := db.ExecContext(ctx, query, args...)
	if err != nil {
		return unavailable("delete "+what, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return unavailable("delete "+what, err)
	} else if n == 0 {
		return fmt.Errorf("delete %s: %w", what, mp3converter.ErrNotFound)
	}
	return nil
}
