package ffmpeg

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mp3converter/mp3converter/internal/testmedia"
)

func TestParseFrameHeader(t *testing.T) {
	for _, tt := range []struct {
		name string
		head []byte
		want frameHeader // zero: an error
	}{
		{"MPEG-1 128k 44.1 kHz padded stereo", []byte{0xFF, 0xFB, 0x92, 0x00},
			frameHeader{bitrate: 128000, rate: 44100, size: 418, samples: 1152, bitIndex: 9}},
		{"MPEG-1 320k 48 kHz joint stereo", []byte{0xFF, 0xFB, 0xE4, 0x40},
			frameHeader{bitrate: 320000, rate: 48000, size: 960, samples: 1152, bitIndex: 14}},
		{"MPEG-1 32k 32 kHz mono, CRC", []byte{0xFF, 0xFA, 0x18, 0xC0},
			frameHeader{bitrate: 32000, rate: 32000, mono: true, size: 144, samples: 1152, bitIndex: 1}},
		{"MPEG-2 64k 24 kHz stereo", []byte{0xFF, 0xF3, 0x84, 0x00},
			frameHeader{lsf: true, bitrate: 64000, rate: 24000, size: 192, samples: 576, bitIndex: 8}},
		{"MPEG-2.5 8k 8 kHz mono", []byte{0xFF, 0xE3, 0x18, 0xC0},
			frameHeader{lsf: true, bitrate: 8000, rate: 8000, mono: true, size: 72, samples: 576, bitIndex: 1}},
		{"no sync", []byte{0xFF, 0x1B, 0x90, 0x00}, frameHeader{}},
		{"reserved version", []byte{0xFF, 0xEB, 0x90, 0x00}, frameHeader{}},
		{"layer II", []byte{0xFF, 0xFD, 0x90, 0x00}, frameHeader{}},
		{"free format", []byte{0xFF, 0xFB, 0x00, 0x00}, frameHeader{}},
		{"bad bitrate", []byte{0xFF, 0xFB, 0xF0, 0x00}, frameHeader{}},
		{"reserved rate", []byte{0xFF, 0xFB, 0x9C, 0x00}, frameHeader{}},
		{"short", []byte{0xFF, 0xFB, 0x90}, frameHeader{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h, err := parseFrameHeader(tt.head)
			if tt.want == (frameHeader{}) {
				if err == nil {
					t.Fatalf("got %+v, want an error", h)
				}
				return
			}
			if err != nil || h != tt.want {
				t.Fatalf("got %+v, %v; want %+v", h, err, tt.want)
			}
		})
	}
}

// lameStream returns a raw MP3 stream (no tag, no Xing frame) that LAME
// encoded from a real file with args, bit reservoir on.
func lameStream(t *testing.T, args ...string) []byte {
	t.Helper()
	src := testmedia.Make(t, testmedia.MP4, 8)
	all := append([]string{"-nostdin", "-v", "error", "-i", src, "-c:a", "libmp3lame"}, args...)
	out, err := exec.Command("ffmpeg", append(all, "-id3v2_version", "0", "-write_xing", "0", "-f", "mp3", "pipe:1")...).Output()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRepack takes LAME's frames out of the reservoir and packs them again:
// the frames keep their sizes, and the stream decodes to the same samples.
func TestRepack(t *testing.T) {
	for _, args := range [][]string{{"-q:a", "2"}, {"-b:a", "128k"}, {"-q:a", "5", "-ac", "1"}, {"-q:a", "2", "-ar", "22050"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			in := lameStream(t, args...)
			var out bytes.Buffer
			pk := &packer{emit: func(f []byte) error { out.Write(f); return nil }}
			var u unpacker
			frames, moved := newFrameReader(bytes.NewReader(in)), 0
			for {
				f, h, err := frames.next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				m, err := u.unpack(f, h)
				if err != nil {
					t.Fatal(err)
				}
				moved += btoi(m.begin > 0)
				if err := pk.add(m, 0); err != nil {
					t.Fatal(err)
				}
			}
			if err := pk.flush(true); err != nil {
				t.Fatal(err)
			}
			if moved == 0 || pk.bumped > 0 || out.Len() != len(in) {
				t.Fatalf("%d frames used the reservoir, %d bumped; %d bytes in, %d out", moved, pk.bumped, len(in), out.Len())
			}
			if a, b := pcm(t, in), pcm(t, out.Bytes()); !bytes.Equal(a, b) {
				t.Errorf("repacked stream decodes to other samples (%d bytes, %d before)", len(b), len(a))
			}
		})
	}
}

// pcm decodes an MP3 stream.
func pcm(t *testing.T, mp3 []byte) []byte {
	t.Helper()
	cmd := exec.Command("ffmpeg", "-v", "error", "-f", "mp3", "-i", "pipe:0", "-f", "s16le", "pipe:1")
	cmd.Stdin = bytes.NewReader(mp3)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestXingCounter fills in the Xing frame of ffmpeg's own MP3s from their
// frames: it must come out as ffmpeg wrote it, but for the tag CRC where
// ffmpeg's is wrong (mono, MPEG-2).
func TestXingCounter(t *testing.T) {
	src := testmedia.Make(t, testmedia.MP4, 8)
	for _, args := range [][]string{{"-q:a", "2"}, {"-b:a", "192k"}, {"-q:a", "4", "-ac", "1"}, {"-q:a", "2", "-ar", "24000"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "x.mp3")
			all := append([]string{"-nostdin", "-v", "error", "-i", src, "-c:a", "libmp3lame"}, args...)
			if out, err := exec.Command("ffmpeg", append(all, "-metadata", "title=T", path)...).CombinedOutput(); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			h, err := parseMP3Header(b)
			if err != nil {
				t.Fatal(err)
			}
			x := newXingCounter(h)
			frames := newFrameReader(bytes.NewReader(b[len(h.id3)+len(h.frame):]))
			for f, fh, err := frames.next(); err != io.EOF; f, fh, err = frames.next() {
				if err != nil {
					t.Fatal(err)
				}
				x.add(f, fh)
			}
			t3 := h.frame[h.at+xingDelay:]
			padding := int(t3[1]&0x0F)<<8 | int(t3[2])
			samples := int64(x.frames)*int64(x.samples) - int64(h.delay) - int64(padding)
			got, err := x.finish(h, samples)
			if err != nil {
				t.Fatal(err)
			}
			crc := h.at + xingTagCRC
			if !bytes.Equal(got[:crc], h.frame[:crc]) || !bytes.Equal(got[crc+2:], h.frame[crc+2:]) {
				t.Errorf("Xing frame differs from ffmpeg's:\n% x\n% x", got, h.frame)
			}
			if want := crc16(0, got[:crc]); binary.BigEndian.Uint16(got[crc:]) != want {
				t.Errorf("tag CRC %x, want %x", got[crc:crc+2], want)
			}
			if lsfOrMono := h.at != 36; !lsfOrMono && !bytes.Equal(got, h.frame) {
				t.Errorf("tag CRC %x, ffmpeg's %x", got[crc:crc+2], h.frame[crc:crc+2])
			}
		})
	}
}

func TestReadWAVHeader(t *testing.T) {
	src := testmedia.Make(t, testmedia.MP4, 1)
	out, err := exec.Command("ffmpeg", "-v", "error", "-i", src, "-ac", "1", "-ar", "22050", "-c:a", "pcm_f32le",
		"-fflags", "+bitexact", "-f", "wav", "pipe:1").Output()
	if err != nil {
		t.Fatal(err)
	}
	r := bytes.NewReader(out)
	f, err := readWAVHeader(r)
	if err != nil || f != (pcmFormat{rate: 22050, channels: 1}) {
		t.Fatalf("got %+v, %v", f, err)
	}
	if n := r.Len(); n < 22050*4*9/10 || n%4 != 0 {
		t.Errorf("%d bytes of samples left", n)
	}
	for _, args := range [][]string{{"-c:a", "pcm_s16le"}, {"-c:a", "pcm_f32le", "-ac", "6"}} {
		all := append([]string{"-v", "error", "-i", src}, args...)
		out, err := exec.Command("ffmpeg", append(all, "-f", "wav", "pipe:1")...).Output()
		if err != nil {
			t.Fatal(err)
		}
		if f, err := readWAVHeader(bytes.NewReader(out)); err == nil {
			t.Errorf("%v: read as %+v", args, f)
		}
	}
	if _, err := readWAVHeader(bytes.NewReader([]byte("RIFF\xff\xff\xff\xffWAVEdata"))); err == nil {
		t.Error("data before fmt accepted")
	}
	if _, err := readWAVHeader(bytes.NewReader(nil)); !errors.Is(err, io.EOF) {
		t.Errorf("empty output: %v, want EOF", err)
	}
}

// FuzzFrames: whatever the bytes, reading and unpacking frames never
// panics, and a frame is as long as its header says.
func FuzzFrames(f *testing.F) {
	f.Add([]byte{0xFF, 0xFB, 0x92, 0x00})
	f.Add(append([]byte{0xFF, 0xF3, 0x84, 0x00}, make([]byte, 188)...))
	f.Add(append([]byte{0xFF, 0xFB, 0x10, 0xC0, 0xFF, 0xFF}, make([]byte, 100)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		frames := newFrameReader(bytes.NewReader(b))
		var u unpacker
		for {
			fr, h, err := frames.next()
			if err != nil {
				return
			}
			if len(fr) != h.size || (h.samples != 1152 && h.samples != 576) || h.size < h.dataStart(fr) {
				t.Fatalf("frame of %d bytes, header %+v", len(fr), h)
			}
			if m, err := u.unpack(fr, h); err == nil && len(m.head)+m.room() != h.size {
				t.Fatalf("unpacked %+v from %+v", m, h)
			}
		}
	})
}
