package testsupport

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/mp3converter/mp3converter/sqlite"
)

// SQLite returns an empty, migrated SQLite database in a file of its own
// under t.TempDir(), closed when t ends. Its *sql.DB is the DB field.
func SQLite(t testing.TB) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "test.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
