package mp3converter

import (
	"context"
	"io"
	"time"
)

// BlobStore keeps media files (videos or MP3s). Its contract, which
// blobtest checks point by point for every store:
//
//   - Ids are of the form NewID returns. Any other id is ErrNotFound, or an
//     EINVALID error, and names no file outside the store.
//   - Put stores everything read from r as id and returns its size. The
//     blob appears whole or not at all: if r fails or ctx ends, nothing is
//     left, and Get never sees part of it. An id is never overwritten, not
//     even by Puts racing each other: all but one get ErrConflict.
//   - Get opens a blob for reading, and seeking (range requests); the
//     caller closes it. ErrNotFound if absent.
//   - Delete removes a blob. ErrNotFound if absent.
//   - Outages: while the service behind the store cannot be reached, the
//     error of every method (and of a read from an open blob) wraps
//     ErrUnavailable, so that jobs wait it out instead of failing; once it
//     is back, the store works again as it is. Errors of the caller's own
//     making (r's, or ctx ending) never wrap ErrUnavailable.
//   - Ping returns nil while the service answers, else an error wrapping
//     ErrUnavailable: the readiness check.
//   - Close releases the store; it is not used after.
//
// Media is streamed both ways, never held in memory whole.
type BlobStore interface {
	Put(ctx context.Context, id string, r io.Reader) (int64, error)
	Get(ctx context.Context, id string) (io.ReadSeekCloser, error)
	Delete(ctx context.Context, id string) error
	Ping(ctx context.Context) error
	Close() error
}

// BlobFetcher is implemented by stores that copy a blob into a file faster
// than reading it through Get: S3 with parallel ranged reads. Fetch writes
// blob id into dst from offset 0 and returns its size; ErrNotFound if
// absent. On error, dst may hold part of the blob.
type BlobFetcher interface {
	Fetch(ctx context.Context, id string, dst io.WriterAt) (int64, error)
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
// seeking to the end of the blob.
func StatBlob(ctx context.Context, s BlobStore, id string) (BlobInfo, error) {
	if st, ok := s.(BlobStater); ok {
		return st.Stat(ctx, id)
	}
	rc, err := s.Get(ctx, id)
	if err != nil {
		return BlobInfo{}, err
	}
	defer rc.Close()
	n, err := rc.Seek(0, io.SeekEnd)
	return BlobInfo{Size: n}, err
}
