//go:build integration

package s3_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/blobtest"
	"github.com/mp3converter/mp3converter/internal/testsupport"
	"github.com/mp3converter/mp3converter/s3"
)

// These tests start versitygw servers of their own (testsupport.S3):
// scripts/start-s3.sh builds the binary. A missing binary fails them.

// open opens the bucket of rawURL on srv.
func open(t testing.TB, rawURL string) *s3.Client {
	t.Helper()
	c, err := s3.Open(context.Background(), rawURL, s3.WithCredentials(testsupport.S3AccessKey, testsupport.S3SecretKey))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// newStore returns the videos store of a new bucket on srv.
func newStore(t testing.TB, srv *testsupport.S3Server) *s3.Store {
	t.Helper()
	return open(t, "s3://"+testsupport.RandomName("mp3test-")+"/p?endpoint="+srv.Endpoint).Store("videos")
}

func TestIntegrationConformance(t *testing.T) {
	srv := testsupport.S3(t)
	blobtest.Run(t, func(t *testing.T) mp3converter.BlobStore { return newStore(t, srv) })
}

// TestIntegrationLayout: blobs are the objects PREFIX/KIND/ID of the
// bucket, and a second Open of the bucket (another process) finds it.
func TestIntegrationLayout(t *testing.T) {
	srv := testsupport.S3(t)
	ctx := context.Background()
	c := open(t, srv.URL)
	id := mp3converter.NewID()
	if _, err := c.Store("mp3s").Put(ctx, id, strings.NewReader("an mp3")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Store("videos").Get(ctx, id); !errors.Is(err, mp3converter.ErrNotFound) {
		t.Errorf("the mp3 is found among the videos: %v", err)
	}
	bucket := strings.TrimPrefix(srv.URL[:strings.IndexByte(srv.URL, '?')], "s3://")
	if _, err := os.Stat(filepath.Join(srv.DataDir, bucket, "mp3s", id)); err != nil {
		t.Errorf("no object mp3s/%s in bucket %s: %v", id, bucket, err)
	}
	// Opening again, as another process would, finds the bucket there.
	if _, err := open(t, srv.URL).Store("mp3s").Stat(ctx, id); err != nil {
		t.Error(err)
	}
}

// TestIntegrationPutRace: of Puts of one id at once, exactly one wins,
// the others get ErrConflict, and the blob is the winner's whole: the
// conditional write (If-None-Match: *) is checked atomically, for a single
// PutObject and for a multipart upload.
func TestIntegrationPutRace(t *testing.T) {
	s := newStore(t, testsupport.S3(t))
	for _, size := range []int{1 << 10, 9 << 20} {
		id := mp3converter.NewID()
		const writers = 10
		data := make([][]byte, writers)
		errs := make([]error, writers)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range writers {
			data[i] = testsupport.RandomBytes(size)
			wg.Go(func() {
				<-start
				_, errs[i] = s.Put(context.Background(), id, bytes.NewReader(data[i]))
			})
		}
		close(start)
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Errorf("%d bytes: writers %d and %d both won", size, winner, i)
			case err == nil:
				winner = i
			case !errors.Is(err, mp3converter.ErrConflict):
				t.Errorf("%d bytes: writer %d: %v, want ErrConflict", size, i, err)
			}
		}
		if winner < 0 {
			t.Fatalf("%d bytes: no writer won: %v", size, errs)
		}
		if got := readAll(t, s, id); !bytes.Equal(got, data[winner]) {
			t.Errorf("%d bytes: the blob is not the winner's (%d bytes)", size, len(got))
		}
	}
}

// TestIntegrationRanges: reads at random offsets, and http.ServeContent
// answering a range request from Get's reader.
func TestIntegrationRanges(t *testing.T) {
	s := newStore(t, testsupport.S3(t))
	ctx := context.Background()
	data := testsupport.RandomBytes(5<<20 + 123)
	id := mp3converter.NewID()
	if _, err := s.Put(ctx, id, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	rc, err := s.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	rs := rc.(io.ReadSeeker)
	for range 50 {
		off := rand.Int64N(int64(len(data)))
		n := min(1+rand.Int64N(300<<10), int64(len(data))-off)
		if _, err := rs.Seek(off, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(rs, buf); err != nil {
			t.Fatalf("read %d at %d: %v", n, off, err)
		}
		if !bytes.Equal(buf, data[off:off+n]) {
			t.Fatalf("%d bytes at %d differ", n, off)
		}
	}

	h := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc, err := s.Get(r.Context(), id)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer rc.Close()
		http.ServeContent(w, r, "a.mp3", time.Time{}, rc.(io.ReadSeeker))
	}))
	defer h.Close()
	req, _ := http.NewRequest("GET", h.URL, nil)
	req.Header.Set("Range", "bytes=4000000-4099999")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, data[4000000:4100000]) {
		t.Errorf("range request: %s, %d bytes; want 206 and bytes 4000000-4099999", resp.Status, len(body))
	}
}

// TestIntegrationFetch: Fetch's parallel ranges make the blob whole.
func TestIntegrationFetch(t *testing.T) {
	s := newStore(t, testsupport.S3(t))
	ctx := context.Background()
	for _, size := range []int{0, 1000, 64 << 20} {
		data := testsupport.RandomBytes(size)
		id := mp3converter.NewID()
		if _, err := s.Put(ctx, id, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		f, err := os.Create(filepath.Join(t.TempDir(), "video"))
		if err != nil {
			t.Fatal(err)
		}
		n, err := s.Fetch(ctx, id, f)
		if err != nil || n != int64(size) {
			t.Fatalf("Fetch = %d, %v; want %d", n, err, size)
		}
		got, err := os.ReadFile(f.Name())
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if sha256.Sum256(got) != sha256.Sum256(data) {
			t.Errorf("Fetch of %d bytes: the file differs", size)
		}
	}
	if _, err := s.Fetch(ctx, mp3converter.NewID(), nil); !errors.Is(err, mp3converter.ErrNotFound) {
		t.Errorf("Fetch missing: %v, want ErrNotFound", err)
	}
}

// TestIntegrationPutMemory: a Put of 256 MiB holds a bounded amount of
// memory, partsInFlight+1 parts of 5 MiB, not the blob: the live heap
// (measured after a GC every 20 ms) grows by at most 32 MiB.
func TestIntegrationPutMemory(t *testing.T) {
	s := newStore(t, testsupport.S3(t))
	const size, bound = 256 << 20, 32 << 20
	live := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	runtime.GC() // twice: buffers pooled by earlier Puts survive one GC
	base := live()
	var peak uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			peak = max(peak, live())
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	})
	n, err := s.Put(context.Background(), mp3converter.NewID(), io.LimitReader(&pattern{}, size))
	close(done)
	wg.Wait()
	if err != nil || n != size {
		t.Fatalf("Put = %d, %v; want %d", n, err, size)
	}
	growth := int64(peak) - int64(base)
	t.Logf("live heap grew by %.1f MiB at most during a Put of %d MiB", float64(growth)/(1<<20), size>>20)
	if growth > bound {
		t.Errorf("live heap grew by %d MiB, want at most %d MiB", growth>>20, bound>>20)
	}
}

// pattern reads an endless stream of bytes, made as they are read.
type pattern struct{ n byte }

func (p *pattern) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = p.n
		p.n += 7
	}
	return len(b), nil
}

// TestIntegrationOutage: the contract's outage rule (blobtest.RunOutage),
// with the server stopped and started again.
func TestIntegrationOutage(t *testing.T) {
	blobtest.RunOutage(t, func(t *testing.T) (mp3converter.BlobStore, func(), func()) {
		srv := testsupport.S3(t)
		return newStore(t, srv), srv.Stop, srv.Start
	})
}

// TestIntegrationOutageExtras: what the contract does not name fails with
// ErrUnavailable within seconds too, with the server down: Stat, Fetch and
// a multipart Put.
func TestIntegrationOutageExtras(t *testing.T) {
	srv := testsupport.S3(t)
	s := newStore(t, srv)
	ctx := context.Background()
	kept := mp3converter.NewID()
	if _, err := s.Put(ctx, kept, strings.NewReader("kept")); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	for name, call := range map[string]func() error{
		"Put 9MiB": func() error {
			_, err := s.Put(ctx, mp3converter.NewID(), bytes.NewReader(make([]byte, 9<<20)))
			return err
		},
		"Stat":  func() error { _, err := s.Stat(ctx, kept); return err },
		"Fetch": func() error { _, err := s.Fetch(ctx, kept, nil); return err },
	} {
		start := time.Now()
		err := call()
		if !errors.Is(err, mp3converter.ErrUnavailable) || mp3converter.ErrorCode(err) != mp3converter.EUNAVAILABLE {
			t.Errorf("%s with the server down: %v, want ErrUnavailable", name, err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%s took %v to fail", name, d)
		}
	}
}

// TestIntegrationAbort: a multipart upload that fails, or whose context
// ends, is aborted: no part is left on the server (where it would cost
// storage, unseen).
func TestIntegrationAbort(t *testing.T) {
	srv := testsupport.S3(t)
	bucket := testsupport.RandomName("mp3test-")
	s := open(t, "s3://"+bucket+"?endpoint="+srv.Endpoint).Store("videos")
	r := testsupport.FailAfter(&pattern{}, 20<<20, errors.New("client went away"))
	if _, err := s.Put(context.Background(), mp3converter.NewID(), r); err == nil {
		t.Fatal("Put with a failing reader succeeded")
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	if _, err := s.Put(ctx, mp3converter.NewID(), &pattern{}); err == nil {
		t.Fatal("Put with a cancelled context succeeded")
	}
	var files []string
	filepath.WalkDir(filepath.Join(srv.DataDir, bucket), func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, path)
		}
		return nil
	})
	if len(files) > 0 {
		t.Errorf("files left in the bucket: %v", files)
	}
}

func readAll(t testing.TB, s *s3.Store, id string) []byte {
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
