// Package memory keeps blobs and messages in memory: the fakes that the
// roles' tests share, each as faithful to its interface's contract as the
// real engines (Blobs passes blobtest, outages included).
package memory

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/mp3converter/mp3converter"
)

// Blobs is a mp3converter.BlobStore in memory. SetDown stands for an outage
// of the service behind a store.
type Blobs struct {
	mu    sync.Mutex
	blobs map[string][]byte
	down  atomic.Bool
}

var _ mp3converter.BlobStore = (*Blobs)(nil)

// NewBlobs returns an empty store.
func NewBlobs() *Blobs { return &Blobs{blobs: map[string][]byte{}} }

// Len is how many blobs the store holds.
func (b *Blobs) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.blobs)
}

// SetDown starts (true) or ends an outage: meanwhile every method, and every
// read of an open blob, fails with an error wrapping ErrUnavailable.
func (b *Blobs) SetDown(down bool) { b.down.Store(down) }

var errDown = fmt.Errorf("memory: %w", mp3converter.ErrUnavailable)

func (b *Blobs) check(id string) error {
	switch {
	case b.down.Load():
		return errDown
	case !mp3converter.ValidID(id):
		return fmt.Errorf("memory %q: %w", id, mp3converter.ErrNotFound)
	}
	return nil
}

// Put implements mp3converter.BlobStore.
func (b *Blobs) Put(ctx context.Context, id string, r io.Reader) (int64, error) {
	if err := b.check(id); err != nil {
		return 0, err
	}
	data, err := io.ReadAll(r)
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return 0, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.blobs[id]; ok {
		return 0, fmt.Errorf("memory put %s: %w", id, mp3converter.ErrConflict)
	}
	b.blobs[id] = data
	return int64(len(data)), nil
}

// Get implements mp3converter.BlobStore.
func (b *Blobs) Get(_ context.Context, id string) (io.ReadSeekCloser, error) {
	if err := b.check(id); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	data, ok := b.blobs[id]
	if !ok {
		return nil, fmt.Errorf("memory get %s: %w", id, mp3converter.ErrNotFound)
	}
	return &blob{r: bytes.NewReader(data), down: &b.down}, nil
}

// Delete implements mp3converter.BlobStore.
func (b *Blobs) Delete(_ context.Context, id string) error {
	if err := b.check(id); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.blobs[id]; !ok {
		return fmt.Errorf("memory delete %s: %w", id, mp3converter.ErrNotFound)
	}
	delete(b.blobs, id)
	return nil
}

// Ping implements mp3converter.BlobStore.
func (b *Blobs) Ping(context.Context) error {
	if b.down.Load() {
		return errDown
	}
	return nil
}

// Close implements mp3converter.BlobStore.
func (b *Blobs) Close() error { return nil }

// blob is an open blob: its reads fail during an outage. (Not embedding
// the bytes.Reader keeps its WriteTo, which io.Copy would use, from reading
// past an outage.)
type blob struct {
	r    *bytes.Reader
	down *atomic.Bool
}

func (b *blob) Read(p []byte) (int, error) {
	if b.down.Load() {
		return 0, errDown
	}
	return b.r.Read(p)
}

func (b *blob) Seek(offset int64, whence int) (int64, error) { return b.r.Seek(offset, whence) }

func (b *blob) Close() error { return nil }

// Message is a message published on a Queue.
type Message struct {
	Queue string
	Body  []byte
}

// Queue is a mp3converter.Queue that records what is published. Consume
// calls ConsumeFunc, or waits for its context to end.
type Queue struct {
	// ConsumeFunc, if set, is what Consume does.
	ConsumeFunc func(ctx context.Context, queue string, h mp3converter.Handler) error

	mu          sync.Mutex
	published   []Message
	failPublish int
}

var _ mp3converter.Queue = (*Queue)(nil)

// ErrNacked is the error of a publish FailPublish makes fail: the broker's
// refusal, not an outage (which would be waited out).
var ErrNacked = errors.New("memory: the broker nacked the message")

// FailPublish makes the next n publishes fail with ErrNacked.
func (q *Queue) FailPublish(n int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.failPublish = n
}

// Published returns the messages published so far, oldest first.
func (q *Queue) Published() []Message {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]Message(nil), q.published...)
}

// Publish implements mp3converter.Queue.
func (q *Queue) Publish(_ context.Context, queue string, body []byte) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.failPublish > 0 {
		q.failPublish--
		return ErrNacked
	}
	q.published = append(q.published, Message{Queue: queue, Body: bytes.Clone(body)})
	return nil
}

// Consume implements mp3converter.Queue.
func (q *Queue) Consume(ctx context.Context, queue string, h mp3converter.Handler) error {
	if q.ConsumeFunc != nil {
		return q.ConsumeFunc(ctx, queue, h)
	}
	<-ctx.Done()
	return ctx.Err()
}

// Ping implements mp3converter.Queue.
func (q *Queue) Ping(context.Context) error { return nil }

// Close implements mp3converter.Queue.
func (q *Queue) Close() error { return nil }
