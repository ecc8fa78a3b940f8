package mp3frame

import (
	"bytes"
	"encoding/binary"
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
		want Header // zero: an error
	}{
		{"MPEG-1 128k 44.1 kHz padded stereo", []byte{0xFF, 0xFB, 0x92, 0x00},
			Header{Bitrate: 128000, Rate: 44100, Size: 418, Samples: 1152, BitIndex: 9}},
		{"MPEG-1 320k 48 kHz joint stereo", []byte{0xFF, 0xFB, 0xE4, 0x40},
			Header{Bitrate: 320000, Rate: 48000, Size: 960, Samples: 1152, BitIndex: 14}},
		{"MPEG-1 32k 32 kHz mono, CRC", []byte{0xFF, 0xFA, 0x18, 0xC0},
			Header{Bitrate: 32000, Rate: 32000, Mono: true, Size: 144, Samples: 1152, BitIndex: 1}},
		{"MPEG-2 64k 24 kHz stereo", []byte{0xFF, 0xF3, 0x84, 0x00},
			Header{LSF: true, Bitrate: 64000, Rate: 24000, Size: 192, Samples: 576, BitIndex: 8}},
		{"MPEG-2.5 8k 8 kHz mono", []byte{0xFF, 0xE3, 0x18, 0xC0},
			Header{LSF: true, Bitrate: 8000, Rate: 8000, Mono: true, Size: 72, Samples: 576, BitIndex: 1}},
		{"no sync", []byte{0xFF, 0x1B, 0x90, 0x00}, Header{}},
		{"reserved version", []byte{0xFF, 0xEB, 0x90, 0x00}, Header{}},
		{"layer II", []byte{0xFF, 0xFD, 0x90, 0x00}, Header{}},
		{"free format", []byte{0xFF, 0xFB, 0x00, 0x00}, Header{}},
		{"bad bitrate", []byte{0xFF, 0xFB, 0xF0, 0x00}, Header{}},
		{"reserved rate", []byte{0xFF, 0xFB, 0x9C, 0x00}, Header{}},
		{"short", []byte{0xFF, 0xFB, 0x90}, Header{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h, err := ParseHeader(tt.head)
			if tt.want == (Header{}) {
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
			pk := &Packer{Emit: func(f []byte) error { out.Write(f); return nil }}
			var u Unpacker
			frames, moved := NewReader(bytes.NewReader(in)), 0
			for {
				f, h, err := frames.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				m, err := u.Unpack(f, h)
				if err != nil {
					t.Fatal(err)
				}
				moved += btoi(m.Begin > 0)
				if err := pk.Add(m, 0); err != nil {
					t.Fatal(err)
				}
			}
			if err := pk.Flush(true); err != nil {
				t.Fatal(err)
			}
			if moved == 0 || pk.Bumped > 0 || out.Len() != len(in) {
				t.Fatalf("%d frames used the reservoir, %d bumped; %d bytes in, %d out", moved, pk.Bumped, len(in), out.Len())
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
			h, err := ParseXingHeader(b)
			if err != nil {
				t.Fatal(err)
			}
			x := NewXingCounter(h)
			frames := NewReader(bytes.NewReader(b[len(h.ID3)+len(h.Frame):]))
			for f, fh, err := frames.Next(); err != io.EOF; f, fh, err = frames.Next() {
				if err != nil {
					t.Fatal(err)
				}
				x.Add(f, fh)
			}
			t3 := h.Frame[h.At+xingDelay:]
			padding := int(t3[1]&0x0F)<<8 | int(t3[2])
			samples := int64(x.frames)*int64(x.samples) - int64(h.Delay) - int64(padding)
			got, err := x.Finish(h, samples)
			if err != nil {
				t.Fatal(err)
			}
			crc := h.At + xingTagCRC
			if !bytes.Equal(got[:crc], h.Frame[:crc]) || !bytes.Equal(got[crc+2:], h.Frame[crc+2:]) {
				t.Errorf("Xing frame differs from ffmpeg's:\n% x\n% x", got, h.Frame)
			}
			if want := CRC16(0, got[:crc]); binary.BigEndian.Uint16(got[crc:]) != want {
				t.Errorf("tag CRC %x, want %x", got[crc:crc+2], want)
			}
			if lsfOrMono := h.At != 36; !lsfOrMono && !bytes.Equal(got, h.Frame) {
				t.Errorf("tag CRC %x, ffmpeg's %x", got[crc:crc+2], h.Frame[crc:crc+2])
			}
		})
	}
}

// FuzzFrames: whatever the bytes, reading and unpacking frames never
// panics, and a frame is as long as its header says.
func FuzzFrames(f *testing.F) {
	f.Add([]byte{0xFF, 0xFB, 0x92, 0x00})
	f.Add(append([]byte{0xFF, 0xF3, 0x84, 0x00}, make([]byte, 188)...))
	f.Add(append([]byte{0xFF, 0xFB, 0x10, 0xC0, 0xFF, 0xFF}, make([]byte, 100)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		frames := NewReader(bytes.NewReader(b))
		var u Unpacker
		for {
			fr, h, err := frames.Next()
			if err != nil {
				return
			}
			if len(fr) != h.Size || (h.Samples != 1152 && h.Samples != 576) || h.Size < h.DataStart(fr) {
				t.Fatalf("frame of %d bytes, header %+v", len(fr), h)
			}
			if m, err := u.Unpack(fr, h); err == nil && len(m.Head)+m.Room() != h.Size {
				t.Fatalf("unpacked %+v from %+v", m, h)
			}
		}
	})
}
