package goqite_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/goqite"
	"github.com/mp3converter/mp3converter/queuetest"
	"github.com/mp3converter/mp3converter/sqlite"
)

func TestConformance(t *testing.T) {
	queuetest.Run(t, func(t *testing.T) queuetest.Connect {
		db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "q.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return func(t *testing.T, p mp3converter.RetryPolicy) mp3converter.Queue {
			q := goqite.New(db.DB, goqite.Options{Policy: p, Visibility: time.Second, Poll: 50 * time.Millisecond})
			t.Cleanup(func() { q.Close() })
			return q
		}
	})
}
