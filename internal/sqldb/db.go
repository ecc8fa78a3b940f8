package sqldb

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/mp3converter/mp3converter"
)

// DB is an open database with the schema applied and the stores on it:
// what sqlite.Open and mysql.Open return.
type DB struct {
	*sql.DB
	Users    *UserStore
	Jobs     *JobStore
	Webhooks *WebhookStore
	name     string // the Dialect's, for errors
}

// NewDB returns the stores of db, whose engine is d.
func NewDB(db *sql.DB, d Dialect) *DB {
	return &DB{DB: db, Users: &UserStore{DB: db, Dialect: d}, Jobs: &JobStore{DB: db, Dialect: d},
		Webhooks: &WebhookStore{DB: db, Dialect: d}, name: d.Name}
}

// Ping checks that the database answers, for readiness probes. Its error
// wraps mp3converter.ErrUnavailable.
func (db *DB) Ping(ctx context.Context) error { return Ping(ctx, db.DB, db.name) }

// Ping is DB.Ping for other users of database/sql (goqite); engine starts
// the error's message.
func Ping(ctx context.Context, db *sql.DB, engine string) error {
	if err := db.PingContext(ctx); err != nil {
		return fmt.Errorf("%s ping: %w: %w", engine, mp3converter.ErrUnavailable, err)
	}
	return nil
}
