package parallel

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestOfferNeverBlocks: a send that an invariant says cannot block stops
// the job with an error when the invariant breaks, instead of hanging it.
func TestOfferNeverBlocks(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	e := newEncode(ctx, cancel, Job{}, PCMFormat{Rate: 48000, Channels: 2}, defaultSegment)
	ch := make(chan int, 1)
	if !offer(e, ch, 1, "test") || ctx.Err() != nil {
		t.Fatal("a send with room failed")
	}
	done := make(chan bool)
	go func() { done <- offer(e, ch, 2, "test") }()
	select {
	case ok := <-done:
		var blocked errBlocked
		if ok || !errors.As(context.Cause(ctx), &blocked) {
			t.Fatalf("offer on a full channel = %v, cause %v; want false and errBlocked", ok, context.Cause(ctx))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("offer blocked")
	}
}

// TestChannelRoom holds the capacities that make the pipeline's sends
// never block: every piece in flight fits a lane's fed, every lane's idle
// fits the scheduler's, and the splitter's order holds every piece in
// flight, so that it never waits for the joiner while a lane waits for it.
func TestChannelRoom(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	for _, job := range []Job{{}, {CBR: true, Segment: time.Second}} {
		j := &decoderJob{encode: newEncode(ctx, cancel, job, PCMFormat{Rate: 22050, Channels: 1}, defaultSegment), free: make(chan []byte, 2)}
		sc, sp := newScheduler(j), newSplitter(j)
		l := newPCMLane(j, 0, make(chan *piece), sc.idle)
		if inFlight := cap(j.tokens); cap(l.fed) < inFlight || cap(sp.order) < inFlight || inFlight < laneCount()+2 {
			t.Errorf("%d pieces in flight: a lane's fed holds %d, order %d", inFlight, cap(l.fed), cap(sp.order))
		}
		if cap(sc.idle) < laneCount() || laneCount() > maxLanes {
			t.Errorf("%d lanes, idle holds %d", laneCount(), cap(sc.idle))
		}
		if j.segFrames < j.preRoll {
			t.Errorf("segments of %d frames, pre-rolls of %d: a pre-roll must come from one segment", j.segFrames, j.preRoll)
		}
	}
}

// TestSourcePlan: the segments cover the frames from 0, in order, at
// least two, as many as the lanes or a multiple, none longer than asked.
func TestSourcePlan(t *testing.T) {
	for _, tc := range []struct{ frames, seg, lanes int }{{100, 50, 1}, {1000, 37, 2}, {10, 1000, 8}, {123457, 10000, 3}} {
		starts := sourcePlan(tc.frames, tc.seg, tc.lanes)
		if len(starts) < 2 || len(starts)%tc.lanes != 0 || starts[0] != 0 {
			t.Fatalf("%+v: %v", tc, starts)
		}
		for i := 1; i < len(starts); i++ {
			if n := starts[i] - starts[i-1]; n <= 0 || n > tc.seg {
				t.Errorf("%+v: segment %d of %d frames", tc, i-1, n)
			}
		}
		if last := tc.frames - starts[len(starts)-1]; last <= 0 || last > tc.seg {
			t.Errorf("%+v: last segment of %d frames", tc, last)
		}
	}
}
