package s3

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/mp3converter/mp3converter"
)

// head describes blob id's object for operation op: an error wrapping
// mp3converter.ErrNotFound if id is invalid or the object is absent.
func (s *Store) head(ctx context.Context, op, id string) (*awss3.HeadObjectOutput, error) {
	if !mp3converter.ValidID(id) {
		return nil, fmt.Errorf("s3 %s %q: %w", op, id, mp3converter.ErrNotFound)
	}
	out, err := s.c.api.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: &s.c.bucket, Key: s.key(id)})
	if httpStatus(err) == http.StatusNotFound {
		return nil, fmt.Errorf("s3 %s %s: %w", op, id, mp3converter.ErrNotFound)
	}
	if err != nil {
		return nil, s.c.wrap(ctx, op, id, err)
	}
	if aws.ToInt64(out.ContentLength) < 0 {
		return nil, fmt.Errorf("s3 %s %s: negative length %d", op, id, *out.ContentLength)
	}
	return out, nil
}

// Get implements mp3converter.BlobStore. The returned reader implements
// io.Seeker and reads by ranged GETs; ctx governs its reads too. Get
// returns an error wrapping mp3converter.ErrNotFound if id is invalid or
// the object is absent, and one wrapping mp3converter.ErrUnavailable in an
// outage; so do the reader's reads.
func (s *Store) Get(ctx context.Context, id string) (io.ReadSeekCloser, error) {
	h, err := s.head(ctx, "get", id)
	if err != nil {
		return nil, err
	}
	return &object{s: s, ctx: ctx, id: id, size: aws.ToInt64(h.ContentLength), etag: h.ETag}, nil
}

// Stat implements mp3converter.BlobStater from the object's metadata:
// its size and when it was stored. It returns an error wrapping
// mp3converter.ErrNotFound if id is invalid or the object is absent, and one
// wrapping mp3converter.ErrUnavailable in an outage.
func (s *Store) Stat(ctx context.Context, id string) (mp3converter.BlobInfo, error) {
	h, err := s.head(ctx, "stat", id)
	if err != nil {
		return mp3converter.BlobInfo{}, err
	}
	return mp3converter.BlobInfo{Size: aws.ToInt64(h.ContentLength), Created: aws.ToTime(h.LastModified)}, nil
}

// Delete implements mp3converter.BlobStore. It returns an error wrapping
// mp3converter.ErrNotFound if id is invalid or the object is absent, and
// one wrapping mp3converter.ErrUnavailable in an outage. S3 deletes
// whether or not the object exists, so absence is checked first: of two
// concurrent Deletes of one blob, both may succeed.
func (s *Store) Delete(ctx context.Context, id string) error {
	if _, err := s.head(ctx, "delete", id); err != nil {
		return err
	}
	_, err := s.c.api.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: &s.c.bucket, Key: s.key(id)})
	if err != nil {
		return s.c.wrap(ctx, "delete", id, err)
	}
	return nil
}

// getRange opens bytes first to last (inclusive) of blob id's object, for
// operation op, if its ETag is still etag: an object deleted and stored
// again under the same id since it was opened is an error.
func (s *Store) getRange(ctx context.Context, op, id string, etag *string, first, last int64) (io.ReadCloser, error) {
	out, err := s.c.api.GetObject(ctx, &awss3.GetObjectInput{
		Bucket:  &s.c.bucket,
		Key:     s.key(id),
		Range:   aws.String(fmt.Sprintf("bytes=%d-%d", first, last)),
		IfMatch: etag,
	})
	switch status := httpStatus(err); {
	case status == http.StatusNotFound:
		return nil, fmt.Errorf("s3 %s %s: deleted while open: %w", op, id, mp3converter.ErrNotFound)
	case status == http.StatusPreconditionFailed:
		return nil, fmt.Errorf("s3 %s %s: stored again while open", op, id)
	case err != nil:
		return nil, s.c.wrap(ctx, op, id, err)
	}
	return out.Body, nil
}

// object is a blob open for reading. Seek only records the position; the
// next Read opens a GET from there to the end, and reads go on from that
// response until a Seek moves elsewhere. So seeking to the end to learn
// the size and back, as http.ServeContent does, costs nothing, and a
// sequential read is one GET. An object is not safe for concurrent use.
type object struct {
	s    *Store
	ctx  context.Context
	id   string
	size int64
	etag *string

	pos    int64         // where the next Read reads
	body   io.ReadCloser // the open GET's body, or nil
	at     int64         // the offset body reads next
	closed bool
}

func (o *object) Read(p []byte) (int, error) {
	if o.closed {
		return 0, fs.ErrClosed
	}
	if o.pos >= o.size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if o.body != nil && o.at != o.pos {
		o.closeBody()
	}
	if o.body == nil {
		body, err := o.s.getRange(o.ctx, "read", o.id, o.etag, o.pos, o.size-1)
		if err != nil {
			return 0, err
		}
		o.body, o.at = body, o.pos
	}
	n, err := o.body.Read(p[:min(int64(len(p)), o.size-o.pos)])
	o.pos += int64(n)
	o.at += int64(n)
	switch {
	case err == io.EOF && o.pos < o.size:
		err = fmt.Errorf("s3 read %s: %w at %d of %d bytes", o.id, io.ErrUnexpectedEOF, o.pos, o.size)
	case err == io.EOF:
		err = nil
	case err != nil:
		err = o.s.c.wrap(o.ctx, "read", o.id, err)
	}
	if err != nil || o.pos >= o.size {
		o.closeBody()
	}
	return n, err
}

func (o *object) Seek(offset int64, whence int) (int64, error) {
	if o.closed {
		return 0, fs.ErrClosed
	}
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += o.pos
	case io.SeekEnd:
		offset += o.size
	default:
		return 0, fmt.Errorf("s3 seek %s: invalid whence %d", o.id, whence)
	}
	if offset < 0 {
		return 0, fmt.Errorf("s3 seek %s: negative position", o.id)
	}
	o.pos = offset // past the end is allowed, as in *os.File: reads there return io.EOF
	return offset, nil
}

func (o *object) Close() error {
	if o.closed {
		return fs.ErrClosed
	}
	o.closed = true
	o.closeBody()
	return nil
}

// closeBody closes the open GET, if any. Closing it before its end drops
// the connection, which costs less than reading the rest.
func (o *object) closeBody() {
	if o.body != nil {
		o.body.Close()
		o.body = nil
	}
}
