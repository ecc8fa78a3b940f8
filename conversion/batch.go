package conversion

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mp3converter/mp3converter"
)

// Short conversions that wait for a core share a run of the Transcoder
// when it is a mp3converter.BatchTranscoder: the conversion that gets the
// core takes the short ones waiting then, up to Worker.Batch and a minute
// of audio, and ffmpeg's start-up is paid once (a 10 s clip's conversion
// is mostly that start). Run then holds more deliveries than workers (see
// handlers), so that there are conversions waiting to take. A run holds
// one core; the next core goes to the owner with the fewest running
// (cores), so a user who arrives behind another's many jobs waits for one
// run to end, not for them all.

// batches are the batchable conversions waiting for a core.
type batches struct {
	mu      sync.Mutex
	waiting []*batched
}

// batched is a conversion waiting for a core, or in a run.
type batched struct {
	conv   mp3converter.Conversion
	budget time.Duration      // its conversion's (Worker.budget)
	stop   context.CancelFunc // ends its wait for a core: it was taken
	run    *batchRun          // set once taken or leading; guarded by batches.mu
	done   chan outcome       // its result, from the run
	quit   sync.Once          // leaves run once
}

// leave gives up on b's run, once: see batchRun.
func (b *batched) leave() { b.quit.Do(b.run.leave) }

// batchRun is one run's context, which ends once every member has stopped
// waiting for it: deleted, over its budget, or shutting down. So one
// member's end does not stop the others' conversions.
type batchRun struct {
	ctx    context.Context
	cancel context.CancelFunc
	left   atomic.Int32 // members still waiting
}

// leave is a member's giving up on the run.
func (r *batchRun) leave() {
	if r.left.Add(-1) == 0 {
		r.cancel()
	}
}

type outcome struct {
	res *mp3converter.TranscodeResult
	err error
}

// errAlone is a run's outcome when it took longer than half the shortest
// budget of its members: one of them may be a file slow to decode, which
// must not make the others fail for their budgets. Each then converts
// alone, with what is left of its own budget, at least half.
var errAlone = errors.New("the shared run took too long: converting alone")

// claim waits for a core for cv and returns the function that converts
// it, with the function that gives the core back. A conversion that bt
// batches (nil: none) waits beside the others: the first to get a core
// runs them all (lead), and the others wait for their results.
func (w *Worker) claim(ctx context.Context, owner string, cv mp3converter.Conversion, bt mp3converter.BatchTranscoder, log *slog.Logger) (convert func(context.Context) (*mp3converter.TranscodeResult, error), release func(), err error) {
	alone := func(ctx context.Context) (*mp3converter.TranscodeResult, error) {
		return w.Transcoder.ToMP3(ctx, cv.Src, cv.Dst, cv.Info, cv.Opts)
	}
	if bt == nil || w.Batch <= 1 || !bt.Batchable(cv.Info, cv.Opts) {
		release, err := w.cores.acquire(ctx, owner)
		if err != nil {
			return nil, nil, err
		}
		cv.Opts.Cores = w.cores.lender() // alone reads cv: lanes may borrow
		return alone, release, nil
	}
	waitCtx, stop := context.WithCancel(ctx)
	b := &batched{conv: cv, budget: w.budget(cv.Info), stop: stop, done: make(chan outcome, 1)}
	w.batches.mu.Lock()
	w.batches.waiting = append(w.batches.waiting, b)
	w.batches.mu.Unlock()
	release, err = w.cores.acquire(waitCtx, owner)
	stop()
	n := w.Batch
	if err != nil {
		n = 1 // only out of the waiting, unless taken
	}
	members := w.batches.lead(ctx, b, n)
	switch {
	case members == nil: // in another's run
		if release != nil {
			release() // got a core too: pass it on
		}
		return func(ctx context.Context) (*mp3converter.TranscodeResult, error) {
			res, err := b.result(ctx)
			if !errors.Is(err, errAlone) {
				return res, err
			}
			release, err := w.cores.acquire(ctx, owner)
			if err != nil {
				return nil, err
			}
			defer release()
			return alone(ctx)
		}, b.leave, nil // leave: it may end before it waits (start)
	case err != nil:
		b.run.cancel() // its own run, which will not be
		return nil, nil, err
	}
	return func(ctx context.Context) (*mp3converter.TranscodeResult, error) {
		defer context.AfterFunc(ctx, b.leave)()
		if len(members) > 1 {
			log.Info("ConvertingTogether", "conversions", len(members))
		}
		res, err := runBatch(bt, members)
		if errors.Is(err, errAlone) { // on the core it holds
			log.Warn("ConvertingAlone", "reason", err)
			return alone(ctx)
		}
		return res, err
	}, release, nil
}

// lead takes b out of the waiting, with as many others as fit in a run
// of at most max conversions and batchAudio, first come first, and makes
// their run, under ctx's values; nil if b was taken into another's run.
func (bs *batches) lead(ctx context.Context, b *batched, max int) []*batched {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	if b.run != nil {
		return nil
	}
	r := &batchRun{}
	r.ctx, r.cancel = context.WithCancel(context.WithoutCancel(ctx))
	b.run = r
	members := []*batched{b}
	audio := b.conv.Info.Duration
	bs.waiting = slices.DeleteFunc(bs.waiting, func(o *batched) bool {
		if o == b {
			return true
		}
		if len(members) == max || audio+o.conv.Info.Duration >= batchAudio.Seconds() {
			return false
		}
		audio += o.conv.Info.Duration
		o.run = r
		o.stop()
		members = append(members, o)
		return true
	})
	r.left.Store(int32(len(members)))
	return members
}

// batchAudio is the most audio one run converts.
const batchAudio = time.Minute

// result waits for b's outcome from the run it was taken into.
func (b *batched) result(ctx context.Context) (*mp3converter.TranscodeResult, error) {
	select {
	case o := <-b.done:
		return o.res, o.err
	case <-ctx.Done():
		b.leave()
		return nil, ctx.Err()
	}
}

// runBatch converts members in one run, and returns the first's outcome
// after handing the others theirs: errAlone to all if the run takes
// longer than half the shortest of their budgets.
func runBatch(bt mp3converter.BatchTranscoder, members []*batched) (*mp3converter.TranscodeResult, error) {
	run := members[0].run
	defer run.cancel()
	limit := members[0].budget
	cs := make([]mp3converter.Conversion, len(members))
	for i, m := range members {
		cs[i], limit = m.conv, min(limit, m.budget)
	}
	ctx := run.ctx // alone, it has its own budget
	if len(members) > 1 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(run.ctx, limit/2)
		defer cancel()
	}
	results, errs := bt.ToMP3s(ctx, cs)
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		for i := range errs {
			results[i], errs[i] = nil, errAlone
		}
	}
	for i, m := range members[1:] {
		m.done <- outcome{results[i+1], errs[i+1]}
	}
	return results[0], errs[0]
}
