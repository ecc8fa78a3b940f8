package conversion

import (
	"context"
	"runtime"
	"slices"
	"sync"
)

// cores is the converter's CPU budget, so that a long file can be encoded
// on the cores the workers leave idle without slowing the jobs that wait:
// max(workers, CPUs) slots. Each conversion holds one while ffmpeg works
// on it (acquire, in turn). A conversion that encodes in parallel borrows
// more (lender), up to one per CPU in all, and only while no conversion
// waits for one; it gives each back after one segment, to the first
// conversion waiting if there is one. So a job that arrives while another
// has borrowed every core waits one segment at most, and jobs waiting in
// the queue still come first: with --workers conversions running, nothing
// is lent.
type cores struct {
	mu      sync.Mutex
	free    int
	waiters []chan struct{} // conversions waiting, first come first served
	perJob  int             // the most slots one conversion holds
}

func newCores(workers int) *cores {
	cpus := runtime.NumCPU()
	return &cores{free: max(workers, cpus), perJob: cpus}
}

// acquire waits for a conversion's own slot. It returns ctx's error if ctx
// ends first.
func (c *cores) acquire(ctx context.Context) (release func(), err error) {
	c.mu.Lock()
	if c.free > 0 && len(c.waiters) == 0 {
		c.free--
		c.mu.Unlock()
		return c.releaser(nil), nil
	}
	ready := make(chan struct{})
	c.waiters = append(c.waiters, ready)
	c.mu.Unlock()
	select {
	case <-ready:
		return c.releaser(nil), nil
	case <-ctx.Done():
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-ready: // given a slot meanwhile: pass it on
		c.give()
	default:
		c.waiters = slices.DeleteFunc(c.waiters, func(w chan struct{}) bool { return w == ready })
	}
	return nil, ctx.Err()
}

// give hands a slot to the first conversion waiting, or back to the pool.
// c.mu is held.
func (c *cores) give() {
	if len(c.waiters) > 0 {
		close(c.waiters[0])
		c.waiters = c.waiters[1:]
		return
	}
	c.free++
}

// releaser returns the function that gives a slot back, once, and then
// calls after with c.mu held.
func (c *cores) releaser(after func()) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.give()
			if after != nil {
				after()
			}
		})
	}
}

// lender returns the mp3converter.TranscodeOptions.Cores of a conversion that
// holds its own slot: each call borrows one more slot if one is free, no
// conversion waits for one, and the conversion holds fewer than perJob.
func (c *cores) lender() func() (func(), bool) {
	held := 1 // its own; guarded by c.mu
	return func() (func(), bool) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.free == 0 || len(c.waiters) > 0 || held >= c.perJob {
			return nil, false
		}
		c.free--
		held++
		return c.releaser(func() { held-- }), true
	}
}
