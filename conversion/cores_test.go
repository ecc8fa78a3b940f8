package conversion

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/internal/testsupport"
)

// waiting returns how many conversions wait for a core.
func (c *cores) waiting() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.waiters)
}

func (c *cores) freeNow() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.free
}

// TestCoresLend: a conversion borrows the free cores up to its share, and
// a conversion waiting for its own core comes first: it gets the next
// core given back, and while it waits nothing is lent.
func TestCoresLend(t *testing.T) {
	c := &cores{free: 3, perJob: 2}
	ctx := context.Background()
	releaseA, err := c.acquire(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	lendA := c.lender()
	borrowed, ok := lendA()
	if !ok {
		t.Fatal("a free core was not lent")
	}
	if _, ok := lendA(); ok {
		t.Fatal("lent more than the conversion's share")
	}
	releaseB, err := c.acquire(ctx, "") // the last free core
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan func())
	go func() {
		release, err := c.acquire(ctx, "")
		if err != nil {
			t.Error(err)
		}
		got <- release
	}()
	testsupport.Eventually(t, 10*time.Second, "a conversion waiting", func() bool { return c.waiting() > 0 })
	borrowed()
	releaseC := <-got // the core given back went to the conversion waiting
	borrowed()        // twice: no effect
	if c.freeNow() != 0 {
		t.Fatalf("%d cores free, want 0", c.freeNow())
	}
	if _, ok := c.lender()(); ok {
		t.Error("lent a core with none free")
	}
	releaseB()
	if _, ok := lendA(); !ok {
		t.Error("a core given back was not lent")
	}
	releaseA()
	releaseC()
}

// TestCoresWaiterFirst: nothing is lent while a conversion waits, even
// with a core free for a moment.
func TestCoresWaiterFirst(t *testing.T) {
	c := &cores{free: 1, perJob: 4, waiters: []waiter{{ready: make(chan struct{})}}}
	if _, ok := c.lender()(); ok {
		t.Error("lent a core while a conversion waits")
	}
}

// TestCoresAcquireCancelled: a conversion that stops waiting leaves the
// queue, and a core handed to it as it stops goes to the next in line.
func TestCoresAcquireCancelled(t *testing.T) {
	c := &cores{free: 0, perJob: 2}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.acquire(ctx, ""); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if c.waiting() != 0 || c.freeNow() != 0 {
		t.Fatalf("%d waiting, %d free after a cancelled wait", c.waiting(), c.freeNow())
	}
	for range 20 {
		ctxB, cancelB := context.WithCancel(context.Background())
		b, next := make(chan func(), 1), make(chan func(), 1)
		go func() { release, _ := c.acquire(ctxB, ""); b <- release }()
		testsupport.Eventually(t, 10*time.Second, "b waiting", func() bool { return c.waiting() >= 1 })
		go func() { release, _ := c.acquire(context.Background(), ""); next <- release }()
		testsupport.Eventually(t, 10*time.Second, "b and next waiting", func() bool { return c.waiting() >= 2 })
		c.mu.Lock()
		c.give("", false) // to b, which stops waiting at the same time
		cancelB()
		c.mu.Unlock()
		if release := <-b; release != nil {
			release()
		}
		(<-next)()
		if c.waiting() != 0 || c.freeNow() != 1 {
			t.Fatalf("%d waiting, %d free, want 0 and 1", c.waiting(), c.freeNow())
		}
		c.free = 0
	}
}

// transcoder is a Transcoder whose ToMP3 runs a function.
type transcoder struct {
	mp3converter.Transcoder
	toMP3 func(opts mp3converter.TranscodeOptions)
}

func (f transcoder) ToMP3(_ context.Context, _, _ string, _ *mp3converter.MediaInfo, opts mp3converter.TranscodeOptions) (*mp3converter.TranscodeResult, error) {
	f.toMP3(opts)
	return &mp3converter.TranscodeResult{Duration: 1}, nil
}

// TestTranscodeHoldsACore: a conversion runs on a core of the budget and
// may borrow the others; without a budget it borrows none.
func TestTranscodeHoldsACore(t *testing.T) {
	c := &cores{free: 2, perJob: 2}
	db := testsupport.SQLite(t)
	w := &Worker{cores: c, Jobs: db.Jobs, Logger: slog.New(slog.DiscardHandler)}
	job := &mp3converter.Job{ID: "j", Owner: "ann@example.com", Filename: "x.mp4", VideoFID: "v"}
	if err := db.Jobs.CreateJob(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	var free, lent int
	w.Transcoder = transcoder{toMP3: func(opts mp3converter.TranscodeOptions) {
		free = c.freeNow()
		if release, ok := opts.Cores(); ok {
			lent++
			release()
		}
	}}
	if _, err := w.transcode(context.Background(), job, &mp3converter.MediaInfo{Duration: 1}, "src", "dst", w.Logger); err != nil {
		t.Fatal(err)
	}
	if free != 1 || lent != 1 || c.freeNow() != 2 {
		t.Errorf("while converting %d free, %d lent; after, %d free", free, lent, c.freeNow())
	}
	w.cores = nil
	w.Transcoder = transcoder{toMP3: func(opts mp3converter.TranscodeOptions) {
		if opts.Cores != nil {
			t.Error("cores lent without a budget")
		}
	}}
	if _, err := w.transcode(context.Background(), job, &mp3converter.MediaInfo{Duration: 1}, "src", "dst", w.Logger); err != nil {
		t.Fatal(err)
	}
}

// TestTurnPause: the first deferral since a job was admitted does not
// wait; each further one waits twice as long, up to turnPause.
func TestTurnPause(t *testing.T) {
	var f fairShare
	want := []time.Duration{0, firstPause, 2 * firstPause, 4 * firstPause, 8 * firstPause, 16 * firstPause, turnPause, turnPause}
	for i, w := range want {
		if got := f.pause(); got != w {
			t.Errorf("deferral %d waits %v, want %v", i+1, got, w)
		}
	}
	for range 100 {
		f.pause()
	}
	if got := f.pause(); got != turnPause {
		t.Errorf("after 100 deferrals: %v, want %v", got, turnPause)
	}
	f.deferred = 0 // as admit does
	if got := f.pause(); got != 0 {
		t.Errorf("the first deferral after an admission waits %v, want 0", got)
	}
}

// TestCoresOwnBound: no more conversions start than workers, cores free
// or not; one waiting then does not stop a running one borrowing.
func TestCoresOwnBound(t *testing.T) {
	c := &cores{free: 2, perJob: 2, own: 1}
	releaseA, err := c.acquire(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan func())
	go func() {
		release, _ := c.acquire(context.Background(), "")
		started <- release
	}()
	testsupport.Eventually(t, 10*time.Second, "a second conversion waiting", func() bool { return c.waiting() == 1 })
	borrowed, ok := c.lender()()
	if !ok {
		t.Fatal("a core the waiting conversion may not start on was not lent")
	}
	select {
	case <-started:
		t.Fatal("a second conversion started with one worker")
	case <-time.After(50 * time.Millisecond):
	}
	borrowed()
	releaseA()
	(<-started)()
	if c.freeNow() != 2 || c.running != 0 {
		t.Errorf("%d free, %d running at the end, want 2 and 0", c.freeNow(), c.running)
	}
}

// TestCoresFewestRunningFirst: a slot given back goes to the first
// conversion of the owners with the fewest running, not to the first in
// line: bob, who arrived behind ann's third job, starts before it.
func TestCoresFewestRunningFirst(t *testing.T) {
	c := &cores{free: 2, perJob: 2, own: 2}
	ctx := context.Background()
	release1, _ := c.acquire(ctx, "ann")
	release2, _ := c.acquire(ctx, "ann")
	started := make(chan string, 2)
	for i, owner := range []string{"ann", "bob"} {
		go func() {
			release, _ := c.acquire(ctx, owner)
			started <- owner
			t.Cleanup(release)
		}()
		testsupport.Eventually(t, 10*time.Second, "waiting", func() bool { return c.waiting() == i+1 })
	}
	release1()
	if first := <-started; first != "bob" {
		t.Errorf("the slot went to %s's job, want bob's", first)
	}
	release2()
	if next := <-started; next != "ann" {
		t.Errorf("then to %s's, want ann's", next)
	}
}
