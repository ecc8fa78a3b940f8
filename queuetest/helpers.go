package queuetest

import (
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter"
)

// Helpers of the suite's tests.

func queueName() string { return "test-" + rand.Text()[:10] }

func publish(t *testing.T, q mp3converter.Queue, name, body string) {
	t.Helper()
	if err := q.Publish(context.Background(), name, []byte(body)); err != nil {
		t.Fatalf("Publish: %v", err)
	}
}

// collect consumes until n deliveries have been handled by h.
func collect(t *testing.T, q mp3converter.Queue, name string, n int, h func(mp3converter.Delivery) error) []mp3converter.Delivery {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var got []mp3converter.Delivery
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		q.Consume(ctx, name, func(_ context.Context, d mp3converter.Delivery) error {
			d.Body = slices.Clone(d.Body)
			err := h(d)
			mu.Lock()
			got = append(got, d)
			if len(got) == n {
				close(done)
			}
			mu.Unlock()
			return err
		})
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("got %d of %d deliveries: %v", len(got), n, bodies(got))
	}
	cancel()
	<-stopped
	return got
}

// expectNothing fails if a message is delivered within d.
func expectNothing(t *testing.T, q mp3converter.Queue, name string, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var extra []string
	var mu sync.Mutex
	q.Consume(ctx, name, func(_ context.Context, d mp3converter.Delivery) error {
		mu.Lock()
		extra = append(extra, fmt.Sprintf("%s (attempt %d)", d.Body, d.Attempt))
		mu.Unlock()
		return nil
	})
	if len(extra) > 0 {
		t.Errorf("unexpected deliveries: %v", extra)
	}
}

func deadLetters(t *testing.T, q mp3converter.Queue, name string, n int) []mp3converter.DeadLetter {
	t.Helper()
	dls, ok := q.(mp3converter.DeadLetterStore)
	if !ok {
		t.Fatal("queue does not implement DeadLetterStore")
	}
	var got []mp3converter.DeadLetter
	deadline := time.Now().Add(5 * time.Second)
	for {
		var err error
		got, err = dls.DeadLetters(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == n || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(got) != n {
		t.Fatalf("%d dead letters, want %d: %+v", len(got), n, got)
	}
	return got
}

func bodies(ds []mp3converter.Delivery) []string {
	var out []string
	for _, d := range ds {
		out = append(out, string(d.Body))
	}
	return out
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
