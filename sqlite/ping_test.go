package sqlite_test

import (
	"context"
	"errors"
	"testing"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/internal/testsupport"
)

func TestPing(t *testing.T) {
	db := testsupport.SQLite(t)
	if err := db.Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	db.Close()
	if err := db.Ping(context.Background()); !errors.Is(err, mp3converter.ErrUnavailable) {
		t.Errorf("Ping of a closed database: %v, want ErrUnavailable", err)
	}
}
