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
// is lent. At most own conversions hold a slot of their own (--workers):
// more may wait for one, to be batched (see claim).
type cores struct {
	mu      sync.Mutex
	free    int
	waiters []waiter // conversions waiting for a slot of their own
	perJob  int      // the most slots one conversion holds
	own     int      // the most conversions running; 0: no bound
	running int      // conversions running
	owners  map[string]int
}

// waiter is a conversion waiting for its slot, and whose job it is: the
// next slot goes to the first of the owners with the fewest conversions
// running, so that a user who arrives behind another's many jobs waits
// for one of them to end, not for all (the fair share, see admit).
type waiter struct {
	ready chan struct{}
	owner string
}

func newCores(workers int) *cores {
	cpus := runtime.NumCPU()
	return &cores{free: max(workers, cpus), perJob: cpus, own: workers}
}

// canStart says whether a conversion may take a slot of its own now.
// c.mu is held.
func (c *cores) canStart() bool { return c.free > 0 && (c.own == 0 || c.running < c.own) }

// start gives a slot of its own to a conversion of owner's. c.mu is held.
func (c *cores) start(owner string) {
	if c.owners == nil {
		c.owners = map[string]int{}
	}
	c.free--
	c.running++
	c.owners[owner]++
}

// acquire waits for the own slot of a conversion of owner's job. It
// returns ctx's error if ctx ends first.
func (c *cores) acquire(ctx context.Context, owner string) (release func(), err error) {
	c.mu.Lock()
	if c.canStart() && len(c.waiters) == 0 {
		c.start(owner)
		c.mu.Unlock()
		return c.releaser(owner, true, nil), nil
	}
	w := waiter{make(chan struct{}), owner}
	c.waiters = append(c.waiters, w)
	c.mu.Unlock()
	select {
	case <-w.ready:
		return c.releaser(owner, true, nil), nil
	case <-ctx.Done():
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-w.ready: // given a slot meanwhile: pass it on
		c.give(owner, true)
	default:
		c.waiters = slices.DeleteFunc(c.waiters, func(o waiter) bool { return o.ready == w.ready })
	}
	return nil, ctx.Err()
}

// give puts a slot back, the own slot of a conversion of owner's or a
// borrowed one, and hands slots to the conversions waiting while they may
// start, fewest running first (see waiter). c.mu is held.
func (c *cores) give(owner string, own bool) {
	c.free++
	if own {
		c.running--
		if c.owners[owner]--; c.owners[owner] <= 0 {
			delete(c.owners, owner)
		}
	}
	for len(c.waiters) > 0 && c.canStart() {
		next := 0
		for i, w := range c.waiters {
			if c.owners[w.owner] < c.owners[c.waiters[next].owner] {
				next = i
			}
		}
		w := c.waiters[next]
		c.waiters = slices.Delete(c.waiters, next, next+1)
		c.start(w.owner)
		close(w.ready)
	}
}

// releaser returns the function that gives a slot back, once, and then
// calls after with c.mu held.
func (c *cores) releaser(owner string, own bool, after func()) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.give(owner, own)
			if after != nil {
				after()
			}
		})
	}
}

// lender returns the mp3converter.TranscodeOptions.Cores of a conversion that
// holds its own slot: each call borrows one more slot if one is free, no
// conversion waits for one that it could start on, and the conversion
// holds fewer than perJob.
func (c *cores) lender() func() (func(), bool) {
	held := 1 // its own; guarded by c.mu
	return func() (func(), bool) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.free == 0 || (len(c.waiters) > 0 && c.canStart()) || held >= c.perJob {
			return nil, false
		}
		c.free--
		held++
		return c.releaser("", false, func() { held-- }), true
	}
}
