package ffmpeg_test

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/ffmpeg"
	"github.com/mp3converter/mp3converter/internal/testmedia"
)

// TestParallelShrunkTable: an MP4 whose timing table times half its
// packets probes at half its length, and ffmpeg decodes it all. Through
// the lanes it comes out as long as one pass makes it, or fails with a
// reason; never done with part of the audio. The lanes do not seek in it:
// its table does not time every packet.
func TestParallelShrunkTable(t *testing.T) {
	src := testmedia.ShrunkTable(t, 60)
	if ffmpeg.SampleExact(src) {
		t.Error("the lanes may seek in a table that times an eighth of the packets")
	}
	info, err := (&ffmpeg.Transcoder{}).Probe(context.Background(), src)
	if err != nil || info.Duration > 40 {
		t.Fatalf("probed %+v, %v: the table was not shrunk", info, err)
	}
	w := convertTwice(t, src, mp3converter.TranscodeOptions{}, time.Second, 4*time.Second)
	single, par, runs := w.single, w.par, w.runs
	if len(runs) == 0 || runs[len(runs)-1].Segments < 2 {
		t.Fatalf("runs %+v: not encoded in parallel", runs)
	}
	a, b := decode(t, single), decode(t, par)
	if len(b) != len(a) {
		t.Errorf("parallel output decodes to %d samples, one pass to %d", len(b)/2, len(a)/2)
	}
	t.Logf("one pass %d samples, parallel %d; runs %+v", len(a)/2, len(b)/2, runs)
}

// TestParallelIrregularPackets: three tracks of speech joined without
// re-encoding, whose packets where they meet last longer or shorter by
// their timestamps than the samples they decode to. Through the lanes the
// file decodes to as many samples as in one pass, aligned at every join:
// a lane cut by timestamps would start off by the difference, and repeat
// or lose audio there.
func TestParallelIrregularPackets(t *testing.T) {
	src := testmedia.Joined(t, 10)
	if odd := oddPackets(t, src, 1024); odd < 2 {
		t.Fatalf("%d packets last other than 1,024 samples: want the joins' 2 or more", odd)
	}
	w := convertTwice(t, src, mp3converter.TranscodeOptions{}, 3*time.Second, 3*time.Second)
	single, par, stats := w.single, w.par, w.stats()
	if stats.Segments < 8 {
		t.Fatalf("stats %+v: not encoded in parallel", stats)
	}
	ref, a, b := decode(t, src), decode(t, single), decode(t, par)
	if len(b) != len(a) || len(a) != len(ref) {
		t.Errorf("decodes to %d samples in parallel, %d in one pass; the source to %d", len(b)/2, len(a)/2, len(ref)/2)
	}
	worstA, worstB, _, wa, wb := checkJoins(t, ref, a, b, 2, 44100, stats.Joins)
	t.Logf("lanes read the source: %v; %d joins; worst join SNR %.2f dB in one pass, %.2f in parallel; whole file %.2f, %.2f",
		stats.FromSource, len(stats.Joins), worstA, worstB, wa, wb)
}

// oddPackets counts the packets of path's first audio stream whose
// duration is not frame samples.
func oddPackets(t *testing.T, path string, frame int) int {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries", "packet=duration", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	odd := 0
	lines := strings.Fields(string(out))
	for _, d := range lines[:len(lines)-1] { // the last may be shorter
		if d != strconv.Itoa(frame) {
			odd++
		}
	}
	return odd
}
