package probe_test

import (
	"bytes"
	"encoding/binary"
	"io"
	"os"
	"runtime"
	"testing"

	"github.com/mp3converter/mp3converter/internal/probe"
	"github.com/mp3converter/mp3converter/internal/testmedia"
)

// zeros is a file of size bytes: head, then zeros.
type zeros struct {
	head []byte
	size int64
}

func (z zeros) ReadAt(p []byte, off int64) (int, error) {
	if off >= z.size {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), z.size-off))
	clear(p[:n])
	if off < int64(len(z.head)) {
		copy(p[:n], z.head[off:])
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// TestProbeBounded: headers claiming huge boxes and elements make
// Probe read no more than its caps, whatever the file's size.
func TestProbeBounded(t *testing.T) {
	ftyp := []byte("\x00\x00\x00\x10ftypisom\x00\x00\x02\x00")
	box := func(typ string, size uint32) []byte {
		return append([]byte{byte(size >> 24), byte(size >> 16), byte(size >> 8), byte(size)}, typ...)
	}
	ebml := []byte("\x1a\x45\xdf\xa3\x88\x42\x82\x85webm\x00")
	segment := []byte("\x18\x53\x80\x67\x01\x00\x00\x10\x00\x00\x00\x00") // 64 GiB
	for _, tt := range []struct {
		name string
		head []byte
		size int64  // of the file
		max  uint64 // bytes allocated
	}{
		{"moov of 4 GiB", append(ftyp, box("moov", 0xFFFFFFF0)...), 1 << 40, 1 << 20},
		{"moov of 63 MiB, read", append(ftyp, box("moov", 63<<20)...), 16 + 63<<20, 70 << 20},
		{"mdat of 4 GiB then zeros", append(ftyp, box("mdat", 0xFFFFFFF0)...), 1 << 40, 1 << 20},
		{"Tracks of 1 GiB", append(append(ebml, segment...), "\x16\x54\xae\x6b\x08\x40\x00\x00\x00"...), 1 << 40, 1 << 20},
		{"Segment of Voids", append(append(ebml, segment...), bytes.Repeat([]byte{0xec, 0x80}, 4096)...), 1 << 40, 1 << 20},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			info, ok := probe.Probe(zeros{tt.head, tt.size}, tt.size)
			runtime.ReadMemStats(&after)
			if ok {
				t.Errorf("Probe answers %+v", info)
			}
			if n := after.TotalAlloc - before.TotalAlloc; n > tt.max {
				t.Errorf("allocated %d bytes, want at most %d", n, tt.max)
			}
		})
	}
}

// FuzzQuickProbe: whatever the bytes, and whether or not the file is as
// long as its size says, Probe does not panic, and where it answers:
//   - the answer is whole: a format, an audio codec, a rate, a duration
//     within bounds;
//   - it depends on no byte the file lacks: the file padded with zeros to
//     the size it claims gets the same answer (a short read is never taken
//     for data);
//   - an MP4's answer comes from its headers: no read starts inside the
//     media data (an mdat's payload), as the test's own walk finds it.
//
// The seeds are small, as the fuzzer's minimizer takes time quadratic in
// an input's length: the first KiB of test media, its MP4s without their
// media data, and whole files of a tenth of a second. (ffmpeg's
// TestQuickProbe holds the answers to ffprobe's on whole files.)
func FuzzQuickProbe(f *testing.F) {
	for _, kind := range []testmedia.Kind{testmedia.MP4, testmedia.FastStart, testmedia.MKV, testmedia.MKVOpus,
		testmedia.WebM, testmedia.MP4MP3, testmedia.NoAudio} {
		b, err := os.ReadFile(testmedia.Make(f, kind, 1))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b[:min(len(b), 4<<10)], uint16(0))
		if h := mp4Headers(b); h != nil {
			f.Add(h, uint16(0))
			f.Add(h, uint16(100))
		}
	}
	for _, c := range []struct{ name, codec string }{{"v.mkv", "libvorbis"}, {"o.webm", "libopus"}, {"a.mkv", "aac"},
		{"a.m4a", "aac"}, {"a.mov", "libmp3lame"}} {
		b, err := os.ReadFile(testmedia.Encode(f, c.name, "-f", "lavfi", "-i", "sine=duration=0.1", "-c:a", c.codec, "-metadata", "title=Some Title"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint16(0))
	}
	f.Fuzz(func(t *testing.T, b []byte, missing uint16) {
		size := int64(len(b)) + int64(missing)
		rec := &recorder{r: bytes.NewReader(b)}
		info, ok := probe.Probe(rec, size)
		if !ok {
			return
		}
		if info.Format == "" || info.AudioCodec == "" || info.SampleRate <= 0 ||
			!(info.Duration > 0 && info.Duration < 1e9) {
			t.Fatalf("Probe = %+v", info)
		}
		if padded, ok := probe.Probe(zeros{b, size}, size); !ok || *padded != *info {
			t.Fatalf("Probe = %+v of %d bytes claiming %d, but %+v, %v once they are there", *info, len(b), size, padded, ok)
		}
		for _, media := range mdats(b, size) {
			for _, off := range rec.offsets {
				if off >= media[0] && off < media[1] {
					t.Fatalf("Probe read at %d, inside the media data at %d to %d", off, media[0], media[1])
				}
			}
		}
	})
}

// recorder is a ReaderAt that notes where each read starts.
type recorder struct {
	r       io.ReaderAt
	offsets []int64
}

func (r *recorder) ReadAt(p []byte, off int64) (int, error) {
	r.offsets = append(r.offsets, off)
	return r.r.ReadAt(p, off)
}

// mdats returns the payload of each top-level mdat of the MP4 b, which
// claims size bytes: where its media data is. Nothing for anything else.
func mdats(b []byte, size int64) [][2]int64 {
	if len(b) < 8 || string(b[4:8]) != "ftyp" {
		return nil
	}
	var out [][2]int64
	for off := int64(0); off+8 <= int64(len(b)); {
		n, hdr := int64(binary.BigEndian.Uint32(b[off:])), int64(8)
		switch {
		case n == 0:
			n = size - off
		case n == 1 && off+16 <= int64(len(b)):
			n, hdr = int64(binary.BigEndian.Uint64(b[off+8:])), 16
		}
		if n < hdr {
			return out
		}
		if string(b[off+4:off+8]) == "mdat" {
			out = append(out, [2]int64{off + hdr, off + n})
		}
		off += n
	}
	return out
}

// mp4Headers returns the top-level boxes of an MP4 but mdat: a small file
// that still probes.
func mp4Headers(b []byte) []byte {
	var h []byte
	for off := 0; off+8 <= len(b); {
		n := int(b[off])<<24 | int(b[off+1])<<16 | int(b[off+2])<<8 | int(b[off+3])
		if n < 8 || n > len(b)-off {
			return nil
		}
		if string(b[off+4:off+8]) != "mdat" {
			h = append(h, b[off:off+n]...)
		}
		off += n
	}
	return h
}
