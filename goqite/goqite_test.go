package goqite_test

import (
	"testing"
	"time"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/goqite"
	"github.com/mp3converter/mp3converter/internal/testsupport"
	"github.com/mp3converter/mp3converter/queuetest"
)

func TestConformance(t *testing.T) {
	queuetest.Run(t, func(t *testing.T) queuetest.Connect {
		db := testsupport.SQLite(t)
		return func(t *testing.T, p mp3converter.RetryPolicy) mp3converter.Queue {
			q := goqite.New(db.DB, goqite.Options{Policy: p, Visibility: time.Second, Poll: 50 * time.Millisecond})
			t.Cleanup(func() { q.Close() })
			return q
		}
	})
}
