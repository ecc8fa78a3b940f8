package ctxio_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/mp3converter/mp3converter/internal/ctxio"
)

func TestReader(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	r := ctxio.Reader(ctx, strings.NewReader("abcdef"))
	p := make([]byte, 3)
	if n, err := r.Read(p); n != 3 || err != nil {
		t.Fatalf("Read before cancel = %d, %v", n, err)
	}
	cancel()
	if n, err := r.Read(p); n != 0 || !errors.Is(err, context.Canceled) {
		t.Errorf("Read after cancel = %d, %v; want 0, context.Canceled", n, err)
	}
	if _, err := io.Copy(io.Discard, r); !errors.Is(err, context.Canceled) {
		t.Errorf("io.Copy after cancel: %v, want context.Canceled", err)
	}
}

// TestCopy: Copy copies everything, in writes of at most 1 MiB, fewer than
// the reads that feed it, and stops once its context ends.
func TestCopy(t *testing.T) {
	src := strings.Repeat("0123456789abcdef", 200_000) // 3.2 MB
	var dst writeCounter
	n, err := ctxio.Copy(context.Background(), &dst, iotest.OneByteReader(strings.NewReader(src[:100])))
	if err != nil || n != 100 || dst.String() != src[:100] {
		t.Fatalf("Copy of 100 one-byte reads = %d, %v, %q", n, err, dst.String())
	}
	if dst.writes != 1 {
		t.Errorf("100 one-byte reads written in %d writes, want 1", dst.writes)
	}
	dst = writeCounter{}
	if n, err := ctxio.Copy(context.Background(), &dst, strings.NewReader(src)); err != nil || n != int64(len(src)) || dst.String() != src {
		t.Fatalf("Copy = %d, %v; want %d bytes copied", n, err, len(src))
	}
	if dst.writes != 4 || dst.largest != 1<<20 {
		t.Errorf("3.2 MB written in %d writes of at most %d bytes, want 4 of at most 1 MiB", dst.writes, dst.largest)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := ctxio.Copy(ctx, io.Discard, strings.NewReader(src)); !errors.Is(err, context.Canceled) {
		t.Errorf("Copy after cancel: %v, want context.Canceled", err)
	}
}

type writeCounter struct {
	strings.Builder
	writes, largest int
}

func (w *writeCounter) Write(p []byte) (int, error) {
	w.writes++
	w.largest = max(w.largest, len(p))
	return w.Builder.Write(p)
}
