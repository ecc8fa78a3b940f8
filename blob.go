package mp3converter

import (
	"context"
	"io"
	"time"
)

// BlobStore keeps media files (videos or MP3s) under ids of the form NewID
// returns. Files are streamed in both directions, never held in memory.
type BlobStore interface {
	// Put stores everything read from r as id and returns its size. The blob
	// appears whole or not at all: if r fails or ctx ends, nothing is left.
	// It returns ErrConflict if id exists.
	Put(ctx context.Context, id string, r io.Reader) (int64, error)
	// Get opens a blob; the caller closes it. The ReadCloser may also
	// implement io.Seeker, for range requests. ErrNotFound if absent.
	Get(ctx context.Context, id string) (io.ReadCloser, error)
	// Delete removes a blob; ErrNotFound if absent.
	Delete(ctx context.Context, id string) error
}

// BlobInfo describes a stored blob.
type BlobInfo struct {
	Size    int64
	Name    string    // the name another program stored it under; "" if none
	Created time.Time // when it was stored, if the store knows
}

// BlobStater is implemented by stores that describe a blob without
// reading it. Stat returns ErrNotFound if the blob is absent.
type BlobStater interface {
	Stat(ctx context.Context, id string) (BlobInfo, error)
}

// LocalPather is implemented by stores that keep each blob as a file on
// the local disk. LocalPath returns the path of blob id's file, for a
// reader that needs a file (ffmpeg) and can then read it in place, or
// hard-link it, instead of copying it. The caller must not write, rename
// or remove the file. It returns ErrNotFound if the blob is absent.
type LocalPather interface {
	LocalPath(ctx context.Context, id string) (string, error)
}

// LocalAdopter is implemented by stores that keep each blob as a file on
// the local disk and can take a finished file as blob id by linking it,
// not copying it: the converter's MP3. Adopt makes the file durable and
// returns its size; the caller may then remove its own name for it, and
// must not write it. Where no link can be made (another filesystem) it
// fails, and the caller stores the file with Put instead.
type LocalAdopter interface {
	Adopt(ctx context.Context, id, path string) (int64, error)
}

// StatBlob describes blob id of s: with Stat where s has it, else by
// seeking to the end of the blob (every store's Get is seekable).
func StatBlob(ctx context.Context, s BlobStore, id string) (BlobInfo, error) {
	if st, ok := s.(BlobStater); ok {
		return st.Stat(ctx, id)
	}
	rc, err := s.Get(ctx, id)
	if err != nil {
		return BlobInfo{}, err
	}
	defer rc.Close()
	seeker, ok := rc.(io.Seeker)
	if !ok {
		n, err := io.Copy(io.Discard, rc)
		return BlobInfo{Size: n}, err
	}
	n, err := seeker.Seek(0, io.SeekEnd)
	return BlobInfo{Size: n}, err
}
