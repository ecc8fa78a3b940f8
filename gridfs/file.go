package gridfs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// A stored file, read chunk by chunk.

// file is a blob open for reading. It reads the chunks itself, getBatch
// at a time, rather than through the driver's download stream, whose
// cursor fetches as many chunks as the server sends: up to 16 MiB from
// MongoDB, and from FerretDB a reply past the driver's 48 MB message limit
// for a 100 MB file. Seek only records the position; the next Read fetches
// from the chunk holding it, so seeking to the end to learn the size and
// back, as http.ServeContent does, costs nothing. A file is not safe for
// concurrent use.
type file struct {
	s         *Store
	ctx       context.Context
	id        string
	oid       bson.ObjectID
	size      int64
	chunkSize int64

	pos    int64         // where the next Read reads
	cur    *mongo.Cursor // the chunks from next on; nil until needed
	next   int64         // the number of the chunk cur gives next
	data   []byte        // the last chunk read
	at     int64         // the offset of data's first byte
	closed bool
}

// getBatch is how many chunks a read fetches at once: about 1 MiB.
const getBatch = 4

func (f *file) Read(p []byte) (int, error) {
	if f.closed {
		return 0, fs.ErrClosed
	}
	if f.pos >= f.size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if f.pos < f.at || f.pos >= f.at+int64(len(f.data)) {
		if err := f.fetch(f.pos / f.chunkSize); err != nil {
			return 0, err
		}
	}
	n := copy(p, f.data[f.pos-f.at:])
	f.pos += int64(n)
	return n, nil
}

// fetch makes chunk k the current one, from the open cursor if it is the
// next one it gives, else from a new cursor starting at k.
func (f *file) fetch(k int64) error {
	if f.cur == nil || f.next != k {
		if f.cur != nil {
			f.cur.Close(context.WithoutCancel(f.ctx))
		}
		cur, err := f.s.bucket.GetChunksCollection().Find(f.ctx,
			bson.D{{Key: "files_id", Value: f.oid}, {Key: "n", Value: bson.D{{Key: "$gte", Value: k}}}},
			options.Find().SetSort(bson.D{{Key: "n", Value: 1}}).SetBatchSize(getBatch))
		if err != nil {
			f.cur = nil
			return f.s.wrap(f.ctx, "read", f.id, err)
		}
		f.cur, f.next = cur, k
	}
	if !f.cur.Next(f.ctx) {
		if err := f.cur.Err(); err != nil {
			return f.s.wrap(f.ctx, "read", f.id, err)
		}
		return fmt.Errorf("gridfs read %s: chunk %d is missing (deleted while open?): %w", f.id, k, io.ErrUnexpectedEOF)
	}
	var chunk struct {
		N    int64  `bson:"n"`
		Data []byte `bson:"data"`
	}
	if err := f.cur.Decode(&chunk); err != nil {
		return f.s.wrap(f.ctx, "read", f.id, err)
	}
	want := min(f.chunkSize, f.size-k*f.chunkSize)
	if chunk.N != k || int64(len(chunk.Data)) != want {
		return fmt.Errorf("gridfs read %s: chunk %d: got chunk %d of %d bytes, want %d bytes", f.id, k, chunk.N, len(chunk.Data), want)
	}
	f.data, f.at, f.next = chunk.Data, k*f.chunkSize, k+1
	return nil
}

func (f *file) Seek(offset int64, whence int) (int64, error) {
	if f.closed {
		return 0, fs.ErrClosed
	}
	pos, err := seekPos(f.pos, f.size, offset, whence)
	if err != nil {
		return 0, fmt.Errorf("gridfs seek %s: %w", f.id, err)
	}
	f.pos = pos
	return pos, nil
}

// seekPos returns the position that Seek(offset, whence) moves to from pos
// in a file of size bytes. Positions past the end are allowed, as in
// *os.File; reads there return io.EOF.
func seekPos(pos, size, offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += pos
	case io.SeekEnd:
		offset += size
	default:
		return 0, fmt.Errorf("invalid whence %d", whence)
	}
	if offset < 0 {
		return 0, errors.New("negative position")
	}
	return offset, nil
}

func (f *file) Close() error {
	if f.closed {
		return fs.ErrClosed
	}
	f.closed, f.data = true, nil
	if f.cur == nil {
		return nil
	}
	err := f.cur.Close(context.WithoutCancel(f.ctx))
	f.cur = nil
	if err != nil {
		return f.s.wrap(f.ctx, "close", f.id, err)
	}
	return nil
}
