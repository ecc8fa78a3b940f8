// Package localfs implements mp3converter.BlobStore on a local directory.
//
// A blob is written to a temp file in the store's .tmp directory, synced,
// then hard-linked to its final name, which fails if the name exists: a blob
// appears whole or not at all, and is never overwritten. Blobs are spread
// over 256 subdirectories by the last two hex digits of their id.
package localfs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/internal/ctxio"
)

// Store is a directory of blobs.
type Store struct {
	dir           string
	lateWriteback bool // leave all the writing to the fsync (for the benchmark)
}

var (
	_ mp3converter.BlobStore    = (*Store)(nil)
	_ mp3converter.LocalPather  = (*Store)(nil)
	_ mp3converter.LocalAdopter = (*Store)(nil)
)

// Open returns the store in dir, creating it if needed. Temp files older
// than an hour, left by a crash, are removed.
func Open(dir string) (*Store, error) {
	s := &Store{dir: dir}
	if err := os.MkdirAll(s.tmpDir(), 0o750); err != nil {
		return nil, fmt.Errorf("localfs: %w", err)
	}
	if _, err := s.removeTemp(time.Hour); err != nil {
		return nil, err
	}
	return s, nil
}

// RemoveTemp removes every temp file: the partial blobs of a process that
// died writing them. Only the store's sole user may call it, before it
// writes (serve holds its data dir's lock). It returns how many it removed.
func (s *Store) RemoveTemp() (int, error) { return s.removeTemp(0) }

// removeTemp removes the temp files older than age.
func (s *Store) removeTemp(age time.Duration) (int, error) {
	entries, err := os.ReadDir(s.tmpDir())
	if err != nil {
		return 0, fmt.Errorf("localfs: %w", err)
	}
	n := 0
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) >= age {
			if os.RemoveAll(filepath.Join(s.tmpDir(), e.Name())) == nil {
				n++
			}
		}
	}
	return n, nil
}

func (s *Store) tmpDir() string { return filepath.Join(s.dir, ".tmp") }

func (s *Store) path(id string) (string, error) {
	if !mp3converter.ValidID(id) {
		return "", fmt.Errorf("localfs %q: %w", id, mp3converter.ErrNotFound)
	}
	return filepath.Join(s.dir, id[len(id)-2:], id), nil
}

// Put implements mp3converter.BlobStore. A full disk or quota gives an
// error wrapping mp3converter.ErrInsufficientStorage; a taken id,
// mp3converter.ErrConflict. Either way nothing of the blob is kept.
func (s *Store) Put(ctx context.Context, id string, r io.Reader) (int64, error) {
	if !mp3converter.ValidID(id) {
		return 0, mp3converter.Errorf(mp3converter.EINVALID, "invalid blob id %q", id)
	}
	f, err := os.CreateTemp(s.tmpDir(), id+"-*")
	if err != nil {
		return 0, putError(id, err)
	}
	defer os.Remove(f.Name())
	n, err := ctxio.Copy(ctx, &writeback{f: f, early: !s.lateWriteback}, r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, putError(id, err)
	}
	if err := s.link(id, f.Name()); err != nil {
		return 0, err
	}
	return n, nil
}

// Adopt implements mp3converter.LocalAdopter: it fsyncs the file at path,
// makes it readable by its owner only, as Put's files are, and links it
// as blob id. It returns an error wrapping mp3converter.ErrConflict if the
// blob exists.
func (s *Store) Adopt(ctx context.Context, id, path string) (int64, error) {
	if !mp3converter.ValidID(id) {
		return 0, mp3converter.Errorf(mp3converter.EINVALID, "invalid blob id %q", id)
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("localfs adopt %s: %w", id, err)
	}
	fi, err := f.Stat()
	if err == nil {
		err = f.Chmod(0o600)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, putError(id, err)
	}
	if err := s.link(id, path); err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// link makes the durable file at path blob id, and the blob's name
// durable: a taken id gives an error wrapping mp3converter.ErrConflict.
func (s *Store) link(id, path string) error {
	final, _ := s.path(id)
	if err := os.MkdirAll(filepath.Dir(final), 0o750); err != nil {
		return putError(id, err)
	}
	if err := os.Link(path, final); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("localfs put %s: %w", id, mp3converter.ErrConflict)
		}
		return putError(id, err)
	}
	syncDir(filepath.Dir(final))
	return nil
}

// putError wraps a failure to write blob id; a full disk or quota also
// wraps mp3converter.ErrInsufficientStorage.
func putError(id string, err error) error {
	if mp3converter.IsOutOfSpace(err) {
		return fmt.Errorf("localfs put %s: %w: %w", id, mp3converter.ErrInsufficientStorage, err)
	}
	return fmt.Errorf("localfs put %s: %w", id, err)
}

// Get implements mp3converter.BlobStore: the blob's file.
func (s *Store) Get(ctx context.Context, id string) (io.ReadSeekCloser, error) {
	p, err := s.path(id)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("localfs get %s: %w", id, mp3converter.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("localfs get %s: %w", id, err)
	}
	return f, nil
}

// LocalPath implements mp3converter.LocalPather: the blob's file, which
// is never written again once stored. It returns an error wrapping
// mp3converter.ErrNotFound if id is invalid or the blob is absent.
func (s *Store) LocalPath(ctx context.Context, id string) (string, error) {
	p, err := s.path(id)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("localfs path %s: %w", id, mp3converter.ErrNotFound)
	} else if err != nil {
		return "", fmt.Errorf("localfs path %s: %w", id, err)
	}
	return p, nil
}

// Delete implements mp3converter.BlobStore.
func (s *Store) Delete(ctx context.Context, id string) error {
	p, err := s.path(id)
	if err != nil {
		return err
	}
	err = os.Remove(p)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("localfs delete %s: %w", id, mp3converter.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("localfs delete %s: %w", id, err)
	}
	return nil
}

// Ping checks that the directory is there and writable, for readiness
// probes. Any failure wraps mp3converter.ErrUnavailable.
func (s *Store) Ping(ctx context.Context) error {
	f, err := os.CreateTemp(s.tmpDir(), "ping-*")
	if err == nil {
		f.Close()
		err = os.Remove(f.Name())
	}
	if err != nil {
		return fmt.Errorf("localfs ping: %w: %w", mp3converter.ErrUnavailable, err)
	}
	return nil
}

// Close returns nil: a Store holds no open file.
func (s *Store) Close() error { return nil }

// syncDir makes a new directory entry durable; errors are ignored because
// not every filesystem supports it.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
