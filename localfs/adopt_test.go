package localfs_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/localfs"
)

// TestAdopt: an adopted file is the blob, whole, once its own name is gone;
// it is not copied; and an existing blob is not replaced.
func TestAdopt(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := localfs.Open(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(dir, "audio.mp3")
	data := bytes.Repeat([]byte("frame "), 100_000)
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	id := mp3converter.NewID()
	n, err := s.Adopt(ctx, id, src)
	if err != nil || n != int64(len(data)) {
		t.Fatalf("Adopt = %d, %v; want %d, nil", n, err, len(data))
	}
	stored, err := s.LocalPath(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := os.Stat(src)
	b, _ := os.Stat(stored)
	if !os.SameFile(a, b) {
		t.Error("the blob is a copy, not the adopted file")
	}
	if b.Mode().Perm() != 0o600 {
		t.Errorf("the blob's mode is %v, want 0600 as Put's", b.Mode().Perm())
	}
	if err := os.Remove(src); err != nil {
		t.Fatal(err)
	}
	rc, err := s.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Get after the source's removal: %d bytes, %v; want the %d adopted", len(got), err, len(data))
	}
	other := filepath.Join(dir, "other.mp3")
	os.WriteFile(other, []byte("other"), 0o644)
	if _, err := s.Adopt(ctx, id, other); !errors.Is(err, mp3converter.ErrConflict) {
		t.Errorf("Adopt over an existing blob: %v, want ErrConflict", err)
	}
	if _, err := s.Adopt(ctx, mp3converter.NewID(), filepath.Join(dir, "missing.mp3")); err == nil {
		t.Error("Adopt of a missing file succeeded")
	}
}
