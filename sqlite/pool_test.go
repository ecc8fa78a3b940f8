package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/sqlite"
)

// TestPoolIsBounded: 200 parallel queries, half of them writes, share
// MaxConns connections: none fails ("unable to open database file" came
// from an unbounded pool running out of descriptors), the pool never holds
// more, and the database's descriptors stay within three per connection.
func TestPoolIsBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pool.db")
	ctx := context.Background()
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Fatalf("no /proc/self/fd to count descriptors in: %v", err)
	}
	bound := sqlite.MaxConns()
	if got := db.Stats().MaxOpenConnections; got != bound {
		t.Fatalf("MaxOpenConnections %d, want %d", got, bound)
	}

	var maxOpen, maxFiles atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			maxOpen.Store(max(maxOpen.Load(), int64(db.Stats().OpenConnections)))
			maxFiles.Store(max(maxFiles.Load(), int64(dbFiles(path))))
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	start := time.Now()
	for i := range 200 {
		wg.Go(func() {
			var err error
			if i%2 == 0 {
				err = db.Jobs.CreateJob(ctx, &mp3converter.Job{ID: mp3converter.NewID(), Owner: "ann@example.com", VideoFID: mp3converter.NewID()})
			} else {
				_, err = db.Jobs.ListJobs(ctx, mp3converter.JobFilter{Owner: "ann@example.com", Limit: 100})
			}
			errs <- err
		})
	}
	wg.Wait()
	close(stop)
	<-sampled
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("query: %v", err)
		}
	}
	st := db.Stats()
	t.Logf("200 parallel queries in %v: at most %d connections open (bound %d), %d descriptors on the database, %d queries waited %v in all",
		time.Since(start).Round(time.Millisecond), maxOpen.Load(), bound, maxFiles.Load(), st.WaitCount, st.WaitDuration.Round(time.Millisecond))
	if maxOpen.Load() > int64(bound) || st.OpenConnections > bound {
		t.Errorf("%d connections open at most, %d now; want %d at most", maxOpen.Load(), st.OpenConnections, bound)
	}
	if maxFiles.Load() > int64(3*bound) {
		t.Errorf("%d descriptors on the database; want 3 per connection, %d at most", maxFiles.Load(), 3*bound)
	}
	if n, err := db.Jobs.CountJobs(ctx, "ann@example.com"); err != nil || n != 100 {
		t.Errorf("%d jobs stored, %v; want 100", n, err)
	}
}

// dbFiles counts this process's descriptors on the database at path and
// its -wal and -shm files.
func dbFiles(path string) int {
	fds, _ := os.ReadDir("/proc/self/fd")
	n := 0
	for _, fd := range fds {
		if target, err := os.Readlink("/proc/self/fd/" + fd.Name()); err == nil && strings.HasPrefix(target, path) {
			n++
		}
	}
	return n
}
