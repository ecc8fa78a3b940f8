// Package sqlite keeps users, jobs and the embedded queue's messages in one
// SQLite file (modernc.org/sqlite, no cgo), for running everything on one
// machine. The file is opened in WAL mode with immediate transactions, so
// readers never wait and writers queue rather than fail; synchronous=FULL so
// that an accepted upload survives a power cut, not only a crash. The pool
// of connections is bounded (MaxConns): past it, a query waits for a
// connection instead of opening the file again.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"runtime"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/mp3converter/mp3converter/internal/sqldb"
)

// DB is an open SQLite database with the schema applied: its Users, Jobs
// and Webhooks stores, and Ping, whose error wraps mp3converter.ErrUnavailable,
// for readiness probes. The caller closes it.
type DB = sqldb.DB

// Open opens (creating if needed) the database file at path and migrates it.
func Open(ctx context.Context, path string) (*DB, error) {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	// It holds password hashes: its owner's only. SQLite gives the -wal
	// and -shm files the database file's mode.
	if f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600); err == nil {
		f.Close()
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Chmod(p, 0o600); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("sqlite %s: %w", p, err)
		}
	}
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlite open %s: %w", path, err)
	}
	// Unbounded, every concurrent query opened a connection, three
	// descriptors each (the file, -wal, -shm): a flood of requests ran the
	// process out of them, and SQLite then failed to open the file or fell
	// back to read-only. More connections buy nothing anyway: SQLite has
	// one writer at a time, and a WAL reader's work is CPU in this driver.
	// Idle connections are kept up to the bound, since reopening costs the
	// file opens and the pragmas, and closed after a minute unused.
	db.SetMaxOpenConns(MaxConns())
	db.SetMaxIdleConns(MaxConns())
	db.SetConnMaxIdleTime(time.Minute)
	if err := sqldb.Migrate(ctx, db, nil, migrations); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite %s: %w", path, err)
	}
	return sqldb.NewDB(db, sqldb.Dialect{Name: "sqlite", IsDuplicate: isDuplicate}), nil
}

// MaxConns is the most connections Open's pool holds. This driver runs
// SQLite in Go, so a query is mostly CPU: two per CPU keep each busy while
// another waits on the disk, and two more leave readers a connection while
// writers queue for SQLite's one write lock (busy_timeout).
func MaxConns() int { return 2*runtime.GOMAXPROCS(0) + 2 }

func isDuplicate(err error) bool {
	var e *sqlite.Error
	return errors.As(err, &e) && (e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
}

var migrations = []sqldb.Migration{
	{Version: 1, SQL: []string{
		`CREATE TABLE IF NOT EXISTS user (
			id INTEGER PRIMARY KEY AUTOINCREMENT,
			email TEXT NOT NULL UNIQUE,
			password TEXT NOT NULL,
			admin INTEGER NOT NULL DEFAULT 0,
			created_at INTEGER NOT NULL DEFAULT 0
		)`,
		`CREATE TABLE IF NOT EXISTS job (
			id TEXT PRIMARY KEY,
			owner TEXT NOT NULL,
			status TEXT NOT NULL,
			filename TEXT NOT NULL DEFAULT '',
			video_fid TEXT NOT NULL,
			mp3_fid TEXT UNIQUE,
			error TEXT NOT NULL DEFAULT '',
			attempts INTEGER NOT NULL DEFAULT 0,
			progress REAL NOT NULL DEFAULT 0,
			duration REAL NOT NULL DEFAULT 0,
			size INTEGER NOT NULL DEFAULT 0,
			mp3_size INTEGER NOT NULL DEFAULT 0,
			copied INTEGER NOT NULL DEFAULT 0,
			created_at INTEGER NOT NULL,
			updated_at INTEGER NOT NULL,
			notified_at INTEGER
		)`,
		`CREATE INDEX IF NOT EXISTS job_owner_created ON job (owner, created_at)`,
		`CREATE INDEX IF NOT EXISTS job_status_updated ON job (status, updated_at)`,
		// The embedded queue's table, as maragu.dev/goqite defines it.
		`CREATE TABLE IF NOT EXISTS goqite (
			id TEXT PRIMARY KEY DEFAULT ('m_' || lower(hex(randomblob(16)))),
			created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ')),
			updated TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ')),
			queue TEXT NOT NULL,
			body BLOB NOT NULL,
			timeout TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ')),
			received INTEGER NOT NULL DEFAULT 0,
			priority INTEGER NOT NULL DEFAULT 0
		) STRICT`,
		`CREATE TRIGGER IF NOT EXISTS goqite_updated_timestamp AFTER UPDATE ON goqite BEGIN
			UPDATE goqite SET updated = strftime('%Y-%m-%dT%H:%M:%fZ') WHERE id = old.id;
		END`,
		`CREATE INDEX IF NOT EXISTS goqite_queue_priority_created_idx ON goqite (queue, priority DESC, created)`,
	}},
	// The gateway's job feed polls for rows changed since its last look.
	{Version: 2, SQL: []string{`CREATE INDEX IF NOT EXISTS job_updated ON job (updated_at)`}},
	// Webhooks, and their deliveries: an outbox that outlives restarts. An
	// event is recorded once per webhook, whoever records it again.
	{Version: 3, SQL: []string{
		`CREATE TABLE IF NOT EXISTS webhook (
			id TEXT PRIMARY KEY,
			owner TEXT NOT NULL,
			url TEXT NOT NULL,
			secret TEXT NOT NULL,
			created_at INTEGER NOT NULL
		)`,
		`CREATE INDEX IF NOT EXISTS webhook_owner_created ON webhook (owner, created_at)`,
		`CREATE TABLE IF NOT EXISTS webhook_delivery (
			id TEXT PRIMARY KEY,
			webhook_id TEXT NOT NULL,
			job_id TEXT NOT NULL,
			event TEXT NOT NULL,
			payload BLOB NOT NULL,
			status TEXT NOT NULL,
			attempts INTEGER NOT NULL DEFAULT 0,
			http_status INTEGER NOT NULL DEFAULT 0,
			error TEXT NOT NULL DEFAULT '',
			created_at INTEGER NOT NULL,
			attempted_at INTEGER NOT NULL DEFAULT 0,
			next_at INTEGER NOT NULL,
			lease_token TEXT NOT NULL DEFAULT '',
			UNIQUE (webhook_id, job_id, event)
		)`,
		`CREATE INDEX IF NOT EXISTS webhook_delivery_due ON webhook_delivery (status, next_at)`,
		`CREATE INDEX IF NOT EXISTS webhook_delivery_created ON webhook_delivery (webhook_id, created_at)`,
	}},
	// The options each job was uploaded with, as JSON (mp3converter.Options);
	// NULL for the defaults.
	// Migrations are not transactions: the column is added only if missing.
	{Version: 4, Func: func(ctx context.Context, conn *sql.Conn) error {
		return addColumn(ctx, conn, "job", "options", "TEXT")
	}},
	// The version each account's tokens must carry: logout and a new
	// password raise it, revoking the tokens issued before.
	{Version: 5, Func: func(ctx context.Context, conn *sql.Conn) error {
		return addColumn(ctx, conn, "user", "token_version", "INTEGER NOT NULL DEFAULT 0")
	}},
	{Version: 6, SQL: sqldb.LowerOwners},
	// The limits every gateway shares (sqldb.Limits).
	{Version: 7, SQL: []string{
		`CREATE TABLE IF NOT EXISTS limit_lock (name TEXT PRIMARY KEY, touched_at INTEGER NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS limit_event (id TEXT NOT NULL, name TEXT NOT NULL, at INTEGER NOT NULL)`,
		`CREATE INDEX IF NOT EXISTS limit_event_name_at ON limit_event (name, at)`,
		`CREATE INDEX IF NOT EXISTS limit_event_id ON limit_event (id)`,
		`CREATE TABLE IF NOT EXISTS limit_lease (id TEXT PRIMARY KEY, kind TEXT NOT NULL, owner TEXT NOT NULL,
			holder TEXT NOT NULL, expires_at INTEGER NOT NULL)`,
		`CREATE INDEX IF NOT EXISTS limit_lease_owner ON limit_lease (kind, owner, expires_at)`,
		`CREATE INDEX IF NOT EXISTS limit_lease_holder ON limit_lease (holder)`,
	}},
	// Deletions, for a while, so that every gateway's feed tells its
	// streams (JobStore.DeletedSince).
	{Version: 8, SQL: []string{
		`CREATE TABLE IF NOT EXISTS job_deleted (id TEXT NOT NULL, owner TEXT NOT NULL, deleted_at INTEGER NOT NULL)`,
		`CREATE INDEX IF NOT EXISTS job_deleted_at ON job_deleted (deleted_at)`,
	}},
}

// addColumn adds a column to a table unless it is there already.
func addColumn(ctx context.Context, conn *sql.Conn, table, column, definition string) error {
	var n int
	if err := conn.QueryRowContext(ctx, `SELECT COUNT(*) FROM pragma_table_info(?) WHERE name = ?`, table, column).Scan(&n); err != nil || n > 0 {
		return err
	}
	_, err := conn.ExecContext(ctx, `ALTER TABLE "`+table+`" ADD COLUMN "`+column+`" `+definition)
	return err
}
