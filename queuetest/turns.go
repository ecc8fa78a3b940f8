package queuetest

import (
	"context"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter"
)

// testTurns checks a GatedQueue: two consumers share one turn, so the
// second message waits on the queue while the first's handler holds it,
// and is taken as soon as that handler ends its turn, before it returns.
func testTurns(t *testing.T, newBackend newBackendFunc, policy mp3converter.RetryPolicy) {
	q, name := newQueue(t, newBackend, policy)
	gq, ok := q.(mp3converter.GatedQueue)
	if !ok {
		t.Skip("not a GatedQueue")
	}
	ctx, cancel := context.WithCancel(context.Background())
	turns := mp3converter.NewTurns(1)
	started := make(chan string, 2)
	endTurn, answer := make(chan struct{}), make(chan struct{})
	stopped := make(chan struct{}, 2)
	for range 2 {
		go func() {
			defer func() { stopped <- struct{}{} }()
			gq.ConsumeGated(ctx, name, turns, func(_ context.Context, d mp3converter.Delivery) error {
				started <- string(d.Body)
				if string(d.Body) == "first" {
					<-endTurn
					d.EndTurn()
					d.EndTurn() // a second call gives back nothing more
					<-answer
				}
				return nil
			})
		}()
	}
	var turnEnded bool
	defer func() { // lets the handlers return, whatever failed
		if !turnEnded {
			close(endTurn)
		}
		close(answer)
		cancel()
		<-stopped
		<-stopped
	}()
	waitFor := func(want string) {
		t.Helper()
		select {
		case got := <-started:
			if got != want {
				t.Fatalf("handled %q, want %q", got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%q not handled", want)
		}
	}
	publish(t, q, name, "first")
	waitFor("first")
	publish(t, q, name, "second")
	select {
	case got := <-started:
		t.Fatalf("%q taken while the only turn was held", got)
	case <-time.After(time.Second):
	}
	if c, ok := q.(mp3converter.QueueCounter); ok {
		if n, err := c.Depth(context.Background(), name); err != nil || n != 1 {
			t.Errorf("depth while the turn is held: %d, %v; want 1: the message left for another process", n, err)
		}
	}
	close(endTurn)
	turnEnded = true
	waitFor("second") // while "first" is still unanswered
	select {
	case got := <-started:
		t.Fatalf("%q handled again", got)
	case <-time.After(500 * time.Millisecond):
	}
}
