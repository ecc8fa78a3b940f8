package s3

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sync/errgroup"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/internal/ctxio"
)

const (
	// partSize is the size of each part of a multipart upload but the
	// last, S3's least; an object smaller than one part is written by one
	// PutObject. S3 allows 10,000 parts: an object of up to 50 GB.
	partSize = 5 << 20
	maxParts = 10_000
	// partsInFlight is how many parts upload at once. A Put holds at most
	// partsInFlight+1 parts in memory, the one uploading and the one being
	// read: 10 MiB. A gateway storing a 1 GiB upload grew by 24 MiB with
	// one in flight, 32 MiB with two and 42 MiB with three
	// (BenchmarkSplitUploadMemory): one keeps it well under 32 MiB, and
	// reading the next part overlaps the upload of the last.
	partsInFlight = 1
)

// partBuffer is a part's worth of bytes; buffers are reused across Puts.
type partBuffer = [partSize]byte

var partBuffers = sync.Pool{New: func() any { return new(partBuffer) }}

// Put implements mp3converter.BlobStore: it stores r as object
// PREFIX/KIND/id, conditionally on its absence. It returns an EINVALID
// *Error if id is not a valid id, an error wrapping mp3converter.ErrConflict
// if the object exists (or another Put of it is under way), and one
// wrapping mp3converter.ErrUnavailable in an outage. If r fails or ctx
// ends, the upload is aborted and nothing is stored.
func (s *Store) Put(ctx context.Context, id string, r io.Reader) (int64, error) {
	if !mp3converter.ValidID(id) {
		return 0, mp3converter.Errorf(mp3converter.EINVALID, "invalid blob id %q", id)
	}
	r = ctxio.Reader(ctx, r)
	buf := partBuffers.Get().(*partBuffer)
	n, err := io.ReadFull(r, buf[:])
	switch err {
	case nil:
		u := &upload{s: s, id: id, key: s.key(id)}
		return u.run(ctx, buf, r)
	case io.EOF, io.ErrUnexpectedEOF:
		defer partBuffers.Put(buf)
		_, err := s.c.api.PutObject(ctx, &awss3.PutObjectInput{
			Bucket:        &s.c.bucket,
			Key:           s.key(id),
			Body:          bytes.NewReader(buf[:n]),
			ContentLength: aws.Int64(int64(n)),
			IfNoneMatch:   aws.String("*"),
		})
		if err != nil {
			return 0, s.putError(ctx, id, err)
		}
		return int64(n), nil
	default:
		partBuffers.Put(buf)
		return 0, readError(id, err)
	}
}

// putError wraps err, the server's refusal of a Put of id.
func (s *Store) putError(ctx context.Context, id string, err error) error {
	if conflict(err) {
		return fmt.Errorf("s3 put %s: %w", id, mp3converter.ErrConflict)
	}
	return s.c.wrap(ctx, "put", id, err)
}

// readError wraps err, the failure of the reader a Put of id reads: never
// an outage of the store, though it may be a network error (the client of
// an upload gone away).
func readError(id string, err error) error {
	return fmt.Errorf("s3 put %s: reading the blob: %w", id, err)
}

// upload is one multipart upload.
type upload struct {
	s        *Store
	id       string
	key      *string
	uploadID *string

	mu    sync.Mutex
	parts []types.CompletedPart
}

// run uploads first, a full part, and the rest of r, completes the upload
// and returns its size; on failure, it aborts the upload.
func (u *upload) run(ctx context.Context, first *partBuffer, r io.Reader) (int64, error) {
	out, err := u.s.c.api.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{
		Bucket: &u.s.c.bucket,
		Key:    u.key,
	})
	if err != nil {
		partBuffers.Put(first)
		return 0, u.s.putError(ctx, u.id, err)
	}
	u.uploadID = out.UploadId
	n, err := u.uploadParts(ctx, first, r)
	if err == nil {
		err = u.complete(ctx)
	}
	if err != nil {
		return 0, u.abort(ctx, err)
	}
	return n, nil
}

// uploadParts uploads first and the rest of r as parts, partsInFlight at
// a time, and returns their total size. It stops at the first failure.
func (u *upload) uploadParts(ctx context.Context, first *partBuffer, r io.Reader) (int64, error) {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(partsInFlight)
	buf, n := first, partSize
	var total int64
	var readErr error
	for num := int32(1); ; num++ {
		part, data, size := num, buf, n
		g.Go(func() error {
			defer partBuffers.Put(data)
			return u.uploadPart(gctx, part, data[:size])
		})
		total += int64(n)
		if n < partSize || gctx.Err() != nil {
			break
		}
		buf = partBuffers.Get().(*partBuffer)
		var err error
		n, err = io.ReadFull(r, buf[:])
		if err == nil || err == io.ErrUnexpectedEOF {
			if num < maxParts {
				continue
			}
			err = mp3converter.Errorf(mp3converter.ETOOLARGE, "a blob is at most %d bytes", maxParts*partSize)
		}
		partBuffers.Put(buf)
		if err != io.EOF {
			readErr = readError(u.id, err)
		}
		break
	}
	gerr := g.Wait()
	if readErr != nil {
		return 0, readErr
	}
	if gerr != nil {
		return 0, u.s.putError(ctx, u.id, gerr)
	}
	return total, nil
}

// uploadPart uploads data as part number num.
func (u *upload) uploadPart(ctx context.Context, num int32, data []byte) error {
	out, err := u.s.c.api.UploadPart(ctx, &awss3.UploadPartInput{
		Bucket:        &u.s.c.bucket,
		Key:           u.key,
		UploadId:      u.uploadID,
		PartNumber:    aws.Int32(num),
		Body:          bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))),
	})
	if err != nil {
		return err
	}
	u.mu.Lock()
	u.parts = append(u.parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(num)})
	u.mu.Unlock()
	return nil
}

// complete completes the upload, conditionally on the object's absence:
// this is where a taken id is refused.
func (u *upload) complete(ctx context.Context) error {
	slices.SortFunc(u.parts, func(a, b types.CompletedPart) int { return cmp.Compare(*a.PartNumber, *b.PartNumber) })
	_, err := u.s.c.api.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{
		Bucket:          &u.s.c.bucket,
		Key:             u.key,
		UploadId:        u.uploadID,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: u.parts},
		IfNoneMatch:     aws.String("*"),
	}, func(o *awss3.Options) { o.HTTPClient = u.s.c.slow })
	if err != nil {
		return u.s.putError(ctx, u.id, err)
	}
	return nil
}

// abort aborts the upload, which failed with err, and returns the error
// Put returns. It has a context of its own, since ctx may have ended.
func (u *upload) abort(ctx context.Context, err error) error {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	_, aerr := u.s.c.api.AbortMultipartUpload(actx, &awss3.AbortMultipartUploadInput{
		Bucket:   &u.s.c.bucket,
		Key:      u.key,
		UploadId: u.uploadID,
	})
	if aerr != nil && !errors.As(aerr, new(*types.NoSuchUpload)) {
		err = errors.Join(err, fmt.Errorf("aborting upload %s: %w", *u.uploadID, aerr))
	}
	return err
}
