package sqlite_test

import (
	"context"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/internal/testsupport"
	"github.com/mp3converter/mp3converter/storetest"
)

func TestLimits(t *testing.T) {
	storetest.RunLimits(t, func(t *testing.T) mp3converter.Limits { return testsupport.SQLite(t).NewLimits() })
}

// TestLeaseExpires: the leases of a process that stopped renewing them
// (it died) stop counting after their TTL.
func TestLeaseExpires(t *testing.T) {
	db := testsupport.SQLite(t)
	dead := db.NewLimits()
	dead.TTL = 200 * time.Millisecond
	if _, ok, err := dead.Lease(context.Background(), "streams", "ann@example.com", 1); err != nil || !ok {
		t.Fatal(ok, err)
	}
	live := db.NewLimits()
	if _, ok, _ := live.Lease(context.Background(), "streams", "ann@example.com", 1); ok {
		t.Fatal("a lease past the cap while the other is live")
	}
	time.Sleep(300 * time.Millisecond) // on purpose: past the dead lease's TTL
	if _, ok, _ := live.Lease(context.Background(), "streams", "ann@example.com", 1); !ok {
		t.Error("the dead process's lease still counts after its TTL")
	}
}
