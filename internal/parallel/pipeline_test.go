package parallel

import (
	"context"
	"errors"
	"math"
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

// TestSourceSizes: the segments, whichever cores take them, cover the
// frames from 0 in order. A file one round of the lanes can take is
// shared evenly, in as many segments as lanes (a 65 s file on two cores:
// two of 32.5 s). Of a longer one, a borrowed core's segment is a segment
// at most, the own core's ownSegments; none but the last is shorter than
// least, and the last lanes' shrink to a share of what is left.
func TestSourceSizes(t *testing.T) {
	for _, tc := range []struct{ frames, seg int }{{100, 50}, {1000, 37}, {10, 1000}, {123457, 10000}, {65 * 48000 / 1152, 4 * 60 * 48000 / 1152}, {3 * 60 * 60 * 48000 / 1152, 4 * 60 * 48000 / 1152}} {
		s := &sourceJob{encode: &encode{preRoll: vbrPreRoll}, planned: tc.frames, segFrames: tc.seg, ownFrames: ownSegments * tc.seg}
		oneRound := tc.frames <= laneCount()*tc.seg
		for _, pattern := range [][]bool{{true}, {false}, {true, false}, {true, false, false, false}} {
			var sizes []int
			for next, k := 0, 0; next < tc.frames; k++ {
				own := pattern[k%len(pattern)]
				n := s.size(next, own)
				if most := tc.seg * max(1, btoi(own)*ownSegments); !oneRound && n > most && next+n < tc.frames && n > s.least() {
					t.Errorf("%+v %v: segment %d of %d frames, more than %d", tc, pattern, k, n, most)
				}
				if left := tc.frames - next; !oneRound && n < left && n < s.least() {
					t.Errorf("%+v %v: segment %d of %d frames, fewer than %d", tc, pattern, k, n, s.least())
				}
				if n <= 0 {
					t.Fatalf("%+v %v: segment %d of %d frames", tc, pattern, k, n)
				}
				sizes = append(sizes, n)
				next += n
			}
			total := 0
			for _, n := range sizes {
				total += n
			}
			if total != tc.frames {
				t.Errorf("%+v %v: segments of %d frames in all", tc, pattern, total)
			}
			if oneRound && (len(sizes) != min(laneCount(), tc.frames) || sizes[0]-sizes[len(sizes)-1] > laneCount()) {
				t.Errorf("%+v %v: segments %v, want %d even shares", tc, pattern, sizes, laneCount())
			}
			if last := sizes[len(sizes)-1]; !oneRound && len(sizes) > laneCount() && last > max(2*s.least(), tc.frames/laneCount()) {
				t.Errorf("%+v %v: the last segment of %d frames (%v): the tail does not shrink", tc, pattern, last, sizes)
			}
		}
	}
}

// TestSourceProgress: lanes that end before the first piece is joined
// (the own core's long segment holds up the joiner) move the progress on,
// and what the joiner then tells, less than the lanes have, does not move
// it back.
func TestSourceProgress(t *testing.T) {
	var told []float64
	e := &encode{Job: Job{Progress: func(s float64) { told = append(told, s) }}, spf: 1152, pcm: PCMFormat{Rate: 48000}}
	s := &sourceJob{encode: e, planned: 1000}
	s.done(&piece{start: 300, keep: 100}) // the own core's piece, 0 to 300, still runs
	s.done(&piece{start: 400, keep: 100})
	e.progress(0) // the joiner has written nothing
	s.done(&piece{start: 0, keep: 300})
	e.progress(500) // the joiner catches up
	s.samples = 1000 * 1152
	s.done(&piece{start: 500, last: true})
	want := []float64{100 * 0.024, 200 * 0.024, 500 * 0.024, 1000 * 0.024}
	if len(told) != len(want) {
		t.Fatalf("told %v, want %v", told, want)
	}
	for i := range want {
		if math.Abs(told[i]-want[i]) > 1e-9 {
			t.Fatalf("told %v, want %v", told, want)
		}
	}
}
