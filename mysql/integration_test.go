//go:build integration

package mysql_test

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/internal/testsupport"
	"github.com/mp3converter/mp3converter/mysql"
	"github.com/mp3converter/mp3converter/storetest"
)

func open(t testing.TB, dbURL string) *mysql.DB {
	t.Helper()
	db, err := mysql.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestIntegrationUsers(t *testing.T) {
	storetest.RunUsers(t, func(t *testing.T) mp3converter.UserStore {
		return open(t, testsupport.MySQL(t)).Users
	})
}

func TestIntegrationJobs(t *testing.T) {
	storetest.RunJobs(t, func(t *testing.T) mp3converter.JobStore {
		return open(t, testsupport.MySQL(t)).Jobs
	})
}

func TestIntegrationPing(t *testing.T) {
	if err := open(t, testsupport.MySQL(t)).Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// migrations returns schema_migrations as version -> applied_at.
func migrations(t *testing.T, db *sql.DB) map[int]int64 {
	t.Helper()
	rows, err := db.Query(`SELECT version, applied_at FROM schema_migrations`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	m := map[int]int64{}
	for rows.Next() {
		var v int
		var at int64
		if err := rows.Scan(&v, &at); err != nil {
			t.Fatal(err)
		}
		if _, dup := m[v]; dup {
			t.Errorf("version %d recorded twice", v)
		}
		m[v] = at
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestIntegrationSeedTable opens a database holding the seed's auth.user
// table: the migration adds our columns and keeps its rows.
func TestIntegrationSeedTable(t *testing.T) {
	ctx := context.Background()
	dbURL := testsupport.MySQL(t)
	seedDSN, err := mysql.DSN(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	seed, err := sql.Open("mysql", seedDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer seed.Close()
	for _, stmt := range []string{
		`CREATE TABLE user (id INT AUTO_INCREMENT PRIMARY KEY, email VARCHAR(255) NOT NULL UNIQUE, password VARCHAR(255) NOT NULL)`,
		`INSERT INTO user (email, password) VALUES ('seed@example.com', 'Admin123')`,
	} {
		if _, err := seed.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("seed: %v", err)
		}
	}

	db := open(t, dbURL)
	u, err := db.Users.UserByEmail(ctx, "seed@example.com")
	if err != nil {
		t.Fatalf("seed user: %v", err)
	}
	if u.ID != 1 || u.PasswordHash != "Admin123" || u.Admin || !u.CreatedAt.IsZero() || u.TokenVersion != 0 {
		t.Errorf("seed user read back as %+v", u)
	}
	// New users go into the same table, after the seed's ids.
	ann := &mp3converter.User{Email: "ann@example.com", PasswordHash: "$2a$10$hash", Admin: true}
	if err := db.Users.CreateUser(ctx, ann); err != nil {
		t.Fatal(err)
	}
	if ann.ID != 2 {
		t.Errorf("new user id %d, want 2", ann.ID)
	}
	if err := db.Users.CreateUser(ctx, &mp3converter.User{Email: "seed@example.com", PasswordHash: "x"}); !errors.Is(err, mp3converter.ErrConflict) {
		t.Errorf("seed email reused: %v, want ErrConflict", err)
	}
	first := migrations(t, db.DB)
	if first[1] == 0 || first[2] == 0 {
		t.Fatalf("schema_migrations = %v, want versions 1, 2 and any later", first)
	}

	// A second Open finds the migration recorded and does nothing.
	time.Sleep(2 * time.Millisecond) // a migration run again would record a later applied_at
	db2 := open(t, dbURL)
	if again := migrations(t, db2.DB); len(again) != len(first) || again[1] != first[1] {
		t.Errorf("after a second Open schema_migrations = %v, want %v", again, first)
	}

	// A migration interrupted before it was recorded runs again safely.
	if _, err := db2.ExecContext(ctx, `DELETE FROM schema_migrations`); err != nil {
		t.Fatal(err)
	}
	db3 := open(t, dbURL)
	if again := migrations(t, db3.DB); len(again) != len(first) {
		t.Errorf("after re-running, schema_migrations = %v", again)
	}
	if u, err := db3.Users.UserByEmail(ctx, "seed@example.com"); err != nil || u.PasswordHash != "Admin123" {
		t.Errorf("seed user after re-running the migration: %+v, %v", u, err)
	}
	var columns int
	if err := db3.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'user'`).Scan(&columns); err != nil {
		t.Fatal(err)
	}
	if columns != 6 {
		t.Errorf("user has %d columns, want 6", columns)
	}
	// The original auth's own insert still fits the migrated table.
	if _, err := seed.ExecContext(ctx, `INSERT INTO user (email, password) VALUES ('seed2@example.com', 'Admin456')`); err != nil {
		t.Fatalf("the seed's insert after the migration: %v", err)
	}
	if u, err := db3.Users.UserByEmail(ctx, "seed2@example.com"); err != nil || u.TokenVersion != 0 || u.Admin {
		t.Errorf("a user the seed added: %+v, %v", u, err)
	}
}

// TestIntegrationConcurrentOpen starts several processes' worth of Open at
// once on a fresh database: the migration lock lets one migrate.
func TestIntegrationConcurrentOpen(t *testing.T) {
	dbURL := testsupport.MySQL(t)
	const n = 4
	dbs := make([]*mysql.DB, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dbs[i], errs[i] = mysql.Open(context.Background(), dbURL)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open %d: %v", i, err)
			continue
		}
		dbs[i].Close()
	}
	if t.Failed() {
		return
	}
	db := open(t, dbURL)
	if m := migrations(t, db.DB); m[1] == 0 || m[2] == 0 || m[len(m)] == 0 {
		t.Errorf("schema_migrations = %v, want each version from 1 once", m)
	}
	admin := db.DB // the lock is the server's: any session sees it
	var free sql.NullInt64
	if err := admin.QueryRow(`SELECT IS_FREE_LOCK('mp3converter_migrate')`).Scan(&free); err != nil || free.Int64 != 1 {
		t.Errorf("migration lock still held after Open: %v, %v", free, err)
	}
}

func TestIntegrationLimits(t *testing.T) {
	storetest.RunLimits(t, func(t *testing.T) mp3converter.Limits {
		return open(t, testsupport.MySQL(t)).NewLimits()
	})
}
