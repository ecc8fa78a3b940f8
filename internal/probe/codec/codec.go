// Package codec is what the container readers of internal/probe share: the
// audio codecs' own configurations (AAC's AudioSpecificConfig, FLAC's
// STREAMINFO, Vorbis's identification header), read as ffmpeg's decoders
// read them for the rate they output, how ffprobe names a codec that is
// not mapped, and reading a header's bytes. Each answer has an ok: false
// means not sure, which sends the file to ffprobe.
package codec

import (
	"bytes"
	"encoding/binary"
	"io"
	"math"
	"strings"
)

// MaxSeconds bounds a duration believed: beyond it (30 years) a header is
// garbage, and ffmpeg's integer arithmetic on it undefined.
const MaxSeconds = 1e9

// ReadAt returns the n bytes at off, or false if the file, size bytes
// long, does not hold them. The caller bounds n.
func ReadAt(r io.ReaderAt, off, n, size int64) ([]byte, bool) {
	if off < 0 || n < 0 || off > size || n > size-off {
		return nil, false
	}
	b := make([]byte, n)
	if m, _ := r.ReadAt(b, off); int64(m) < n {
		return nil, false
	}
	return b, true
}

// CString is b up to its first NUL, as ffmpeg's C strings keep it.
func CString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// Other vets a codec name that is not one of the few mapped: it must not
// be empty, nor read as mp3.
func Other(name string) (string, bool) {
	name = strings.TrimSpace(name)
	return name, name != "" && !strings.EqualFold(name, "mp3")
}

// ValidRate is a sample rate taken from a header.
func ValidRate(f float64) bool { return f >= 1 && f <= math.MaxInt32 }

// aacRates are the MPEG-4 audio sampling frequencies by index.
var aacRates = [...]int{96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350}

// AACRate reads an AudioSpecificConfig (ISO 14496-3 1.6.2.1) as ffmpeg's
// ff_mpeg4audio_get_config_gb does, and returns the rate its AAC decoder
// outputs, which is what ffprobe reports. Only plain AAC LC is taken: SBR
// (HE-AAC) doubles the rate, and without explicit signalling the decoder
// finds it only in the audio, so a low rate that does not rule SBR out
// is left to ffprobe too.
func AACRate(asc []byte) (int, bool) {
	br := bitReader{b: asc}
	aot, sfi, channels := br.bits(5), br.bits(4), br.bits(4)
	if br.bad || aot != 2 || sfi >= uint32(len(aacRates)) || channels == 0 || channels > 7 {
		return 0, false
	}
	rate := aacRates[sfi]
	sbr := -1 // not signalled: the decoder looks for it in the audio
	// ffmpeg seeks the backward-compatible sync extension bit by bit.
	for br.left() > 15 {
		if bitsAt(br.b, br.pos, 11) != 0x2b7 {
			br.pos++
			continue
		}
		br.pos += 11
		if br.bits(5) != 5 { // an extension other than SBR
			return 0, false
		}
		sbr = int(br.bits(1))
		break
	}
	if br.bad || sbr == 1 || (sbr == -1 && rate <= 24000) {
		return 0, false
	}
	return rate, true
}

// bitReader reads big-endian bit fields; past the end it reads zeros and
// sets bad.
type bitReader struct {
	b   []byte
	pos int // in bits
	bad bool
}

func (r *bitReader) left() int { return len(r.b)*8 - r.pos }

func (r *bitReader) bits(n int) uint32 {
	var v uint32
	if r.left() < n {
		r.bad = true
	} else {
		v = uint32(bitsAt(r.b, r.pos, n))
	}
	r.pos += n
	return v
}

// bitsAt reads n bits at bit offset off of b.
func bitsAt(b []byte, off, n int) int {
	v := 0
	for i := off; i < off+n; i++ {
		v = v<<1 | int(b[i/8]>>(7-i%8)&1)
	}
	return v
}

// FLACRate reads the sample rate from FLAC metadata blocks that begin
// with STREAMINFO, as in an MP4 dfLa box or after Matroska's "fLaC"; the
// FLAC decoder takes its rate from there.
func FLACRate(b []byte) (int, bool) {
	// Block header (last flag, type 0, 24-bit length of at least 34),
	// then the block: 16-bit block sizes, 24-bit frame sizes, 20-bit rate.
	if len(b) < 4+34 || b[0]&0x7f != 0 || int(b[1])<<16|int(b[2])<<8|int(b[3]) < 34 {
		return 0, false
	}
	rate := int(b[14])<<12 | int(b[15])<<4 | int(b[16])>>4
	return rate, rate > 0
}

// XiphLacing reads the head of Matroska's Xiph-laced CodecPrivate of
// three packets (Vorbis: identification, comment, setup): the sizes of
// the first two, and the bytes after the head, where the packets follow
// each other. The caller checks that the packets it reads fit.
func XiphLacing(b []byte) (sizes [2]int, rest []byte, ok bool) {
	if len(b) < 1 || b[0] != 2 {
		return sizes, nil, false
	}
	pos := 1
	for k := range sizes {
		for pos < len(b) && b[pos] == 255 {
			sizes[k] += 255
			pos++
		}
		if pos >= len(b) {
			return sizes, nil, false
		}
		sizes[k] += int(b[pos])
		pos++
	}
	return sizes, b[pos:], true
}

// VorbisRate reads the rate from the Vorbis identification header, the
// first of three packets that Matroska's CodecPrivate holds, Xiph-laced.
func VorbisRate(b []byte) (int, bool) {
	sizes, id, ok := XiphLacing(b)
	if !ok {
		return 0, false
	}
	if sizes[0] < 16 || sizes[0] > len(id) || string(id[:7]) != "\x01vorbis" {
		return 0, false
	}
	rate := binary.LittleEndian.Uint32(id[12:])
	return int(rate), rate > 0 && rate <= math.MaxInt32
}
