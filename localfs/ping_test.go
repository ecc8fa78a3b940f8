package localfs_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/localfs"
)

func TestPing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "blobs")
	s, err := localfs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(context.Background()); !errors.Is(err, mp3converter.ErrUnavailable) {
		t.Errorf("Ping of a removed directory: %v, want ErrUnavailable", err)
	}
}
