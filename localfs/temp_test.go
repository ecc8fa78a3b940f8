package localfs_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter/localfs"
)

// Open removes only the temp files that are over an hour old, which no
// writer can still hold; RemoveTemp, for the store's sole user, removes all.
func TestRemoveTemp(t *testing.T) {
	dir := t.TempDir()
	tmp := filepath.Join(dir, ".tmp")
	if err := os.MkdirAll(tmp, 0o750); err != nil {
		t.Fatal(err)
	}
	old, young := filepath.Join(tmp, "old-1"), filepath.Join(tmp, "young-1")
	for _, p := range []string{old, young} {
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	hourAgo := time.Now().Add(-61 * time.Minute)
	os.Chtimes(old, hourAgo, hourAgo)
	s, err := localfs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("Open kept a temp file over an hour old")
	}
	if _, err := os.Stat(young); err != nil {
		t.Errorf("Open removed a young temp file: %v", err)
	}
	n, err := s.RemoveTemp()
	if err != nil || n != 1 {
		t.Errorf("RemoveTemp = %d, %v; want 1", n, err)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("RemoveTemp left %d files", len(left))
	}
}
