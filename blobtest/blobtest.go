// Package blobtest is the conformance suite every mp3converter.BlobStore
// passes: each point of the contract in blob.go has a case. Each backend's
// tests call Run with a constructor of empty stores, and a store with a
// service behind it (a server that can go away) also calls RunOutage.
package blobtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/internal/testsupport"
)

// Run runs the suite. newStore returns an empty store, cleaned up by the
// test that asked for it.
func Run(t *testing.T, newStore func(t *testing.T) mp3converter.BlobStore) {
	for _, tc := range blobCases {
		t.Run(tc.name, func(t *testing.T) { tc.test(t, newStore(t)) })
	}
}

// blobCases are the suite's subtests; each gets an empty store.
var blobCases = []struct {
	name string
	test func(t *testing.T, s mp3converter.BlobStore)
}{
	{"RoundTrip", testRoundTrip},
	{"NotFound", testNotFound},
	{"Delete", testDelete},
	{"NoOverwrite", testNoOverwrite},
	{"FailedPutLeavesNothing", testFailedPutLeavesNothing},
	{"CancelledPutLeavesNothing", testCancelledPutLeavesNothing},
	{"RacingPuts", testRacingPuts},
	{"Seek", testSeek},
	{"Concurrent", testConcurrent},
	{"PingAndClose", testPingAndClose},
}

func testRoundTrip(t *testing.T, s mp3converter.BlobStore) {
	ctx := context.Background()
	for _, size := range []int{0, 1, 255 << 10, 3<<20 + 17} {
		id := mp3converter.NewID()
		data := testsupport.RandomBytes(size)
		n, err := s.Put(ctx, id, bytes.NewReader(data))
		if err != nil {
			t.Fatalf("Put %d bytes: %v", size, err)
		}
		if n != int64(size) {
			t.Errorf("Put returned size %d, want %d", n, size)
		}
		if got := read(t, s, id); !bytes.Equal(got, data) {
			t.Fatalf("Get returned %d bytes differing from the %d put", len(got), size)
		}
	}
}

func testNotFound(t *testing.T, s mp3converter.BlobStore) {
	ctx := context.Background()
	id := mp3converter.NewID()
	if _, err := s.Get(ctx, id); !errors.Is(err, mp3converter.ErrNotFound) {
		t.Errorf("Get missing: %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, id); !errors.Is(err, mp3converter.ErrNotFound) {
		t.Errorf("Delete missing: %v, want ErrNotFound", err)
	}
	for _, bad := range []string{"", "nothex", "../../etc/passwd", "zzzzzzzzzzzzzzzzzzzzzzzz"} {
		if _, err := s.Get(ctx, bad); mp3converter.ErrorCode(err) != mp3converter.ENOTFOUND && mp3converter.ErrorCode(err) != mp3converter.EINVALID {
			t.Errorf("Get(%q): %v, want not found or invalid", bad, err)
		}
	}
}

func testDelete(t *testing.T, s mp3converter.BlobStore) {
	ctx := context.Background()
	id := put(t, s, []byte("to be deleted"))
	keep := put(t, s, []byte("to be kept"))
	if err := s.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, id); !errors.Is(err, mp3converter.ErrNotFound) {
		t.Errorf("Get after Delete: %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, id); !errors.Is(err, mp3converter.ErrNotFound) {
		t.Errorf("second Delete: %v, want ErrNotFound", err)
	}
	if got := read(t, s, keep); string(got) != "to be kept" {
		t.Errorf("other blob changed: %q", got)
	}
	// The id can be used again.
	if _, err := s.Put(ctx, id, bytes.NewReader([]byte("again"))); err != nil {
		t.Fatalf("Put after Delete: %v", err)
	}
	if got := read(t, s, id); string(got) != "again" {
		t.Errorf("got %q", got)
	}
}

func testNoOverwrite(t *testing.T, s mp3converter.BlobStore) {
	ctx := context.Background()
	id := put(t, s, []byte("first"))
	if _, err := s.Put(ctx, id, bytes.NewReader([]byte("second"))); !errors.Is(err, mp3converter.ErrConflict) {
		t.Errorf("Put over existing blob: %v, want ErrConflict", err)
	}
	if got := read(t, s, id); string(got) != "first" {
		t.Errorf("blob overwritten: %q", got)
	}
}

func testFailedPutLeavesNothing(t *testing.T, s mp3converter.BlobStore) {
	ctx := context.Background()
	id := mp3converter.NewID()
	r := testsupport.FailAfter(bytes.NewReader(testsupport.RandomBytes(1<<20)), 1<<20, errors.New("client went away"))
	if _, err := s.Put(ctx, id, r); err == nil {
		t.Fatal("Put with a failing reader succeeded")
	}
	if _, err := s.Get(ctx, id); !errors.Is(err, mp3converter.ErrNotFound) {
		t.Errorf("Get after failed Put: %v, want ErrNotFound", err)
	}
	if _, err := s.Put(ctx, id, bytes.NewReader([]byte("retry"))); err != nil {
		t.Fatalf("Put after failed Put: %v", err)
	}
}

func testCancelledPutLeavesNothing(t *testing.T, s mp3converter.BlobStore) {
	ctx := context.Background()
	id := mp3converter.NewID()
	cctx, cancel := context.WithCancel(ctx)
	r := &cancelAfter{r: bytes.NewReader(testsupport.RandomBytes(4 << 20)), n: 1 << 20, cancel: cancel}
	if _, err := s.Put(cctx, id, r); err == nil {
		t.Fatal("Put with a cancelled context succeeded")
	}
	if _, err := s.Get(ctx, id); !errors.Is(err, mp3converter.ErrNotFound) {
		t.Errorf("Get after cancelled Put: %v, want ErrNotFound", err)
	}
}

func testSeek(t *testing.T, s mp3converter.BlobStore) {
	ctx := context.Background()
	data := testsupport.RandomBytes(2<<20 + 100)
	id := put(t, s, data)
	rs, err := s.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	for _, off := range []int64{int64(len(data)) - 10, 5, 1<<20 + 3, 0} {
		if _, err := rs.Seek(off, io.SeekStart); err != nil {
			t.Fatalf("Seek %d: %v", off, err)
		}
		buf := make([]byte, 10)
		if _, err := io.ReadFull(rs, buf); err != nil {
			t.Fatalf("read at %d: %v", off, err)
		}
		if !bytes.Equal(buf, data[off:off+10]) {
			t.Errorf("bytes at %d differ", off)
		}
	}
	if end, err := rs.Seek(0, io.SeekEnd); err != nil || end != int64(len(data)) {
		t.Errorf("Seek to end = %d, %v; want %d", end, err, len(data))
	}
}

func testConcurrent(t *testing.T, s mp3converter.BlobStore) {
	ctx := context.Background()
	var wg sync.WaitGroup
	ids := make([]string, 8)
	sums := make([][32]byte, 8)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			data := testsupport.RandomBytes(300<<10 + i)
			ids[i] = mp3converter.NewID()
			sums[i] = sha256.Sum256(data)
			if _, err := s.Put(ctx, ids[i], bytes.NewReader(data)); err != nil {
				t.Errorf("Put %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	for i, id := range ids {
		if sha256.Sum256(read(t, s, id)) != sums[i] {
			t.Errorf("blob %d corrupted", i)
		}
	}
}

// testRacingPuts: Puts of one id at once never mix or replace each other:
// one wins, the others get ErrConflict, and the blob is the winner's.
func testRacingPuts(t *testing.T, s mp3converter.BlobStore) {
	for _, size := range []int{1 << 10, 600 << 10} {
		id := mp3converter.NewID()
		var wg sync.WaitGroup
		var mu sync.Mutex
		var won [][32]byte
		for i := range 8 {
			wg.Go(func() {
				data := testsupport.RandomBytes(size + i)
				_, err := s.Put(context.Background(), id, bytes.NewReader(data))
				switch {
				case err == nil:
					mu.Lock()
					won = append(won, sha256.Sum256(data))
					mu.Unlock()
				case !errors.Is(err, mp3converter.ErrConflict):
					t.Errorf("a racing Put of %d bytes: %v, want ErrConflict", size+i, err)
				}
			})
		}
		wg.Wait()
		if len(won) != 1 {
			t.Fatalf("%d of 8 racing Puts of %d bytes succeeded, want 1", len(won), size)
		}
		if sha256.Sum256(read(t, s, id)) != won[0] {
			t.Errorf("the blob of %d bytes is not the winning Put's", size)
		}
	}
}

// testPingAndClose: a store that works answers Ping; Close succeeds.
func testPingAndClose(t *testing.T, s mp3converter.BlobStore) {
	if err := s.Ping(context.Background()); err != nil {
		t.Errorf("Ping: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// RunOutage checks the outage rule: newStore returns an empty store and the
// functions that stop the service behind it and start it again. While it is
// stopped, every method and a read of a blob opened before fail with an
// error wrapping mp3converter.ErrUnavailable, each within outageWithin; once it
// is back, the store works again, its blobs intact, without being reopened.
func RunOutage(t *testing.T, newStore func(t *testing.T) (s mp3converter.BlobStore, stop, start func())) {
	s, stop, start := newStore(t)
	ctx := context.Background()
	data := testsupport.RandomBytes(3 << 20)
	id := put(t, s, data)
	open, err := s.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	stop()
	for what, call := range map[string]func() error{
		"Put": func() error {
			_, err := s.Put(ctx, mp3converter.NewID(), bytes.NewReader([]byte("during")))
			return err
		},
		"Get":                          func() error { _, err := s.Get(ctx, id); return err },
		"Delete":                       func() error { return s.Delete(ctx, id) },
		"Ping":                         func() error { return s.Ping(ctx) },
		"reading a blob opened before": func() error { _, err := io.Copy(io.Discard, open); return err },
	} {
		began := time.Now()
		if err := call(); !errors.Is(err, mp3converter.ErrUnavailable) {
			t.Errorf("%s during the outage: %v, want an error wrapping ErrUnavailable", what, err)
		}
		if d := time.Since(began); d > outageWithin {
			t.Errorf("%s took %v to fail in the outage, want %v at most", what, d, outageWithin)
		}
	}
	start()
	var perr error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if perr = s.Ping(ctx); perr == nil {
			break
		}
	}
	if perr != nil {
		t.Fatalf("Ping 30 s after the service came back: %v", perr)
	}
	if got := read(t, s, id); !bytes.Equal(got, data) {
		t.Error("the blob put before the outage changed")
	}
	put(t, s, []byte("after"))
}

// outageWithin is how long a call may take to report an outage: jobs
// wait it out rather than hang.
const outageWithin = 20 * time.Second

func put(t *testing.T, s mp3converter.BlobStore, data []byte) string {
	t.Helper()
	id := mp3converter.NewID()
	if _, err := s.Put(context.Background(), id, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	return id
}

func read(t *testing.T, s mp3converter.BlobStore, id string) []byte {
	t.Helper()
	rc, err := s.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("Get %s: %v", id, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", id, err)
	}
	return b
}

// cancelAfter cancels its context once n bytes have been read.
type cancelAfter struct {
	r      io.Reader
	n      int
	read   int
	cancel func()
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	if c.read >= c.n {
		c.cancel()
	}
	n, err := c.r.Read(p)
	c.read += n
	return n, err
}
