package mkv

import (
	"encoding/binary"
	"io"
	"math"
	"os"
	"os/exec"
	"strconv"
	"testing"

	"github.com/mp3converter/mp3converter/internal/testmedia"
)

// TestExcerpt: an excerpt, less the samples it says come first, decodes
// to the samples of the whole decode from the one asked, for each codec
// Index takes; alone (Vorbis, AAC, MPEG audio) to the bit, after a warm-up
// that lets Opus's decoder converge, closer than any MP3 encode; and to
// the same last sample.
func TestExcerpt(t *testing.T) {
	for _, tc := range []struct {
		kind  testmedia.Kind
		exact bool
	}{
		{testmedia.OpusMKV, false}, {testmedia.OpusWebM, false}, {testmedia.VorbisWebM, true},
		{testmedia.AACMKV, true}, {testmedia.MP3MKV, true},
		{testmedia.MKV, true}, // H.264 and Vorbis: the video's blocks are not the audio's
	} {
		t.Run(string(tc.kind), func(t *testing.T) {
			src := testmedia.Make(t, tc.kind, 8)
			f, err := os.Open(src)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			fi, _ := f.Stat()
			ix, ok := NewIndex(f, fi.Size())
			if !ok || ix.Rate() != 48000 {
				t.Fatalf("NewIndex: %v", ok)
			}
			whole := decodeMono(t, f.Name(), nil, 0)
			for _, from := range []int64{48000, 150001, 300007} {
				r, skip, ok := ix.Excerpt(from, -1)
				if !ok || skip < ix.codec.warm/2 { // Vorbis: less its priming block
					t.Fatalf("Excerpt(%d): skip %d, %v", from, skip, ok)
				}
				got := decodeMono(t, "pipe:0", r, skip)
				if int64(len(got))+from != int64(len(whole)) {
					t.Errorf("from %d: %d samples, want %d", from, len(got), int64(len(whole))-from)
				}
				if s := snr(whole[from:], got); s < 60 || (tc.exact && !math.IsInf(s, 1)) {
					t.Errorf("from %d: SNR %.1f dB against the whole decode", from, s)
				}
			}
		})
	}
}

// TestIndexRefuses: what Index cannot count is no Index.
func TestIndexRefuses(t *testing.T) {
	for name, args := range map[string][]string{
		"flac.mkv": {"-f", "lavfi", "-i", "sine=duration=2", "-c:a", "flac"},
		"ac3.mkv":  {"-f", "lavfi", "-i", "sine=duration=2", "-c:a", "ac3"},
	} {
		f, err := os.Open(testmedia.Encode(t, name, args...))
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := f.Stat()
		if _, ok := NewIndex(f, fi.Size()); ok {
			t.Errorf("%s: indexed", name)
		}
		f.Close()
	}
	t.Run("more blocks than maxBlocks", func(t *testing.T) {
		f, err := os.Open(testmedia.Encode(t, "opus.mkv", "-f", "lavfi", "-i", "sine=duration=2:sample_rate=48000", "-c:a", "libopus"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		fi, _ := f.Stat()
		if _, ok := NewIndex(f, fi.Size()); !ok {
			t.Fatal("2 s of Opus: no index")
		}
		defer func(n int) { maxBlocks = n }(maxBlocks)
		maxBlocks = 50 // 2 s is 100 blocks of 20 ms
		if _, ok := NewIndex(f, fi.Size()); ok {
			t.Error("indexed past maxBlocks")
		}
	})
}

// decodeMono decodes the first channel of in (stdin for pipe:0) after
// skip samples.
func decodeMono(t *testing.T, in string, stdin io.Reader, skip int64) []float32 {
	t.Helper()
	args := []string{"-nostdin", "-v", "error", "-i", in, "-map", "0:a:0", "-af",
		"atrim=start_sample=" + strconv.FormatInt(skip, 10) + ",pan=mono|c0=c0", "-c:a", "pcm_f32le", "-f", "f32le", "pipe:1"}
	if stdin != nil {
		args = append([]string{"-f", "matroska"}, args...)
	}
	cmd := exec.Command("ffmpeg", args...)
	cmd.Stdin = stdin
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffmpeg %v: %v", args, err)
	}
	s := make([]float32, len(out)/4)
	for i := range s {
		s[i] = math.Float32frombits(binary.LittleEndian.Uint32(out[4*i:]))
	}
	return s
}

// snr is got's signal-to-noise ratio against ref, in dB.
func snr(ref, got []float32) float64 {
	var sig, noise float64
	for i := range min(len(ref), len(got)) {
		d := float64(ref[i]) - float64(got[i])
		sig, noise = sig+float64(ref[i])*float64(ref[i]), noise+d*d
	}
	return 10 * math.Log10(sig/noise)
}

// BenchmarkIndex indexes an hour's film (Opus beside a small picture), as
// a parallel encode does before its lanes start.
func BenchmarkIndex(b *testing.B) {
	src := testmedia.Make(b, testmedia.MKVOpus, 3600)
	f, err := os.Open(src)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := NewIndex(f, fi.Size()); !ok {
			b.Fatal("no index")
		}
	}
}
