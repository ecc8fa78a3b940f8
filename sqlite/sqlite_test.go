package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/internal/testsupport"
	"github.com/mp3converter/mp3converter/sqlite"
	"github.com/mp3converter/mp3converter/storetest"
)

func TestUsers(t *testing.T) {
	storetest.RunUsers(t, func(t *testing.T) mp3converter.UserStore { return testsupport.SQLite(t).Users })
}

func TestJobs(t *testing.T) {
	storetest.RunJobs(t, func(t *testing.T) mp3converter.JobStore { return testsupport.SQLite(t).Jobs })
}

// TestReopen checks that migrations run once and data survives a reopen.
func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "test.db")
	ctx := context.Background()
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Users.CreateUser(ctx, &mp3converter.User{Email: "a@example.com", PasswordHash: "h"}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer db.Close()
	if _, err := db.Users.UserByEmail(ctx, "a@example.com"); err != nil {
		t.Fatalf("user lost across reopen: %v", err)
	}
}

// TestTokenVersionMigration opens a database from before the token version:
// the column is added, existing users start at 0, and a migration re-run
// after the column exists (a crash before it was recorded) is harmless.
func TestTokenVersionMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "test.db")
	ctx := context.Background()
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Users.CreateUser(ctx, &mp3converter.User{Email: "a@example.com", PasswordHash: "h"}); err != nil {
		t.Fatal(err)
	}
	unrecord := func(db *sqlite.DB) {
		t.Helper()
		if _, err := db.ExecContext(ctx, `DELETE FROM schema_migrations WHERE version >= 5`); err != nil {
			t.Fatal(err)
		}
		db.Close()
	}
	unrecord(db)
	if db, err = sqlite.Open(ctx, path); err != nil {
		t.Fatalf("re-running the migration: %v", err)
	}
	if _, err := db.ExecContext(ctx, `ALTER TABLE user DROP COLUMN token_version`); err != nil {
		t.Fatal(err)
	}
	unrecord(db)
	if db, err = sqlite.Open(ctx, path); err != nil {
		t.Fatalf("migrating a database without token_version: %v", err)
	}
	defer db.Close()
	if u, err := db.Users.UserByEmail(ctx, "a@example.com"); err != nil || u.TokenVersion != 0 {
		t.Fatalf("existing user after the migration: %+v, %v", u, err)
	}
	if err := db.Users.RevokeTokens(ctx, "a@example.com"); err != nil {
		t.Fatal(err)
	}
	if u, _ := db.Users.UserByEmail(ctx, "a@example.com"); u == nil || u.TokenVersion != 1 {
		t.Errorf("after RevokeTokens: %+v", u)
	}
}

// TestLowerOwners: jobs and webhooks stored under a spelling of their
// owner's email (by a gateway before the one owner rule) are moved to the
// owner's lower-case key when the database is migrated.
func TestLowerOwners(t *testing.T) {
	path := filepath.Join(t.TempDir(), "test.db")
	ctx := context.Background()
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	job := &mp3converter.Job{ID: mp3converter.NewID(), Owner: "Mixed.Case@Example.COM", VideoFID: mp3converter.NewID()}
	hook := &mp3converter.Webhook{ID: mp3converter.NewID(), Owner: " Mixed.Case@Example.COM", URL: "https://example.com/h", Secret: "s"}
	if err := db.Jobs.CreateJob(ctx, job); err != nil {
		t.Fatal(err)
	}
	if err := db.Webhooks.CreateWebhook(ctx, hook); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `DELETE FROM schema_migrations WHERE version >= 6`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if db, err = sqlite.Open(ctx, path); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if j, err := db.Jobs.Job(ctx, job.ID); err != nil || j.Owner != "mixed.case@example.com" {
		t.Errorf("job after the migration: %+v, %v", j, err)
	}
	if hooks, err := db.Webhooks.ListWebhooks(ctx, "mixed.case@example.com"); err != nil || len(hooks) != 1 {
		t.Errorf("webhooks of mixed.case@example.com after the migration: %d, %v", len(hooks), err)
	}
}
