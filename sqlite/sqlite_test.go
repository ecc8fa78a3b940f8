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
