package ffmpeg

import (
	"bytes"
	"encoding/binary"
	"io"
	"math"
	"os"
	"strings"

	"github.com/mp3converter/mp3converter"
)

// A probe without ffprobe. ffprobe costs about 145 ms a job here (110 ms
// to load its libraries, 35 ms decoding video for stream information):
// half the work of converting a 10 s clip. Most uploads are MP4 or
// Matroska, whose headers say all that Probe needs, so quickProbe reads
// them (quickprobe_mp4.go, quickprobe_mkv.go) and gives what parseProbe
// would make of ffprobe's answer, as ffmpeg's demuxers read the same
// bytes. Whatever it is not sure of it leaves to ffprobe: files without
// audio, fragments, odd sizes, codecs whose rate only decoding tells,
// title tags in unusual places. It reads headers and indexes only, never media data, and
// never says "mp3", which makes ToMP3 copy the stream, unless the
// container says so unambiguously.

// maxSeconds bounds a duration believed: beyond it (30 years) a header
// is garbage, and ffmpeg's integer arithmetic on it undefined.
const maxSeconds = 1e9

// quickProbe probes the media in r, size bytes long. ok false means not
// sure: ask ffprobe.
func quickProbe(r io.ReaderAt, size int64) (info *mp3converter.MediaInfo, ok bool) {
	var head [8]byte
	if n, _ := r.ReadAt(head[:], 0); n < len(head) {
		return nil, false
	}
	switch {
	case string(head[4:8]) == "ftyp":
		info, ok = probeMP4(r, size)
	case binary.BigEndian.Uint32(head[:4]) == idEBML:
		info, ok = probeMKV(r, size)
	}
	if ok && (info.AudioCodec == "" || !(info.Duration > 0 && info.Duration < maxSeconds)) {
		return nil, false
	}
	return info, ok
}

// quickProbeFile runs quickProbe on the file at path.
func quickProbeFile(path string) (info *mp3converter.MediaInfo, ok bool) {
	ok = parseFile(path, func(r io.ReaderAt, size int64) bool {
		info, ok = quickProbe(r, size)
		return ok
	})
	if !ok {
		return nil, false
	}
	return info, true
}

// parseFile runs parse on the file at path and its size. A bug in a
// parser costs a fallback to ffprobe, not the worker: a panic is false.
func parseFile(path string, parse func(r io.ReaderAt, size int64) bool) (ok bool) {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	return parse(f, fi.Size())
}

// readAt returns the n bytes at off, or false if the file, size bytes
// long, does not hold them. The caller bounds n.
func readAt(r io.ReaderAt, off, n, size int64) ([]byte, bool) {
	if off < 0 || n < 0 || off > size || n > size-off {
		return nil, false
	}
	b := make([]byte, n)
	if m, _ := r.ReadAt(b, off); int64(m) < n {
		return nil, false
	}
	return b, true
}

// cString is b up to its first NUL, as ffmpeg's C strings keep it.
func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// otherCodec vets a codec name that is not one of the few mapped: it must
// not be empty, nor read as mp3.
func otherCodec(name string) (string, bool) {
	name = strings.TrimSpace(name)
	return name, name != "" && !strings.EqualFold(name, "mp3")
}

// aacRates are the MPEG-4 audio sampling frequencies by index.
var aacRates = [...]int{96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350}

// aacRate reads an AudioSpecificConfig (ISO 14496-3 1.6.2.1) as ffmpeg's
// ff_mpeg4audio_get_config_gb does, and returns the rate its AAC decoder
// outputs, which is what ffprobe reports. Only plain AAC LC is taken: SBR
// (HE-AAC) doubles the rate, and without explicit signalling the decoder
// finds it only in the audio, so a low rate that does not rule SBR out
// is left to ffprobe too.
func aacRate(asc []byte) (int, bool) {
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

// bitReader reads big-endian bit fields (see bitsAt);
// past the end it reads zeros and sets bad.
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

// flacRate reads the sample rate from FLAC metadata blocks that begin
// with STREAMINFO, as in an MP4 dfLa box or after Matroska's "fLaC"; the
// FLAC decoder takes its rate from there.
func flacRate(b []byte) (int, bool) {
	// Block header (last flag, type 0, 24-bit length of at least 34),
	// then the block: 16-bit block sizes, 24-bit frame sizes, 20-bit rate.
	if len(b) < 4+34 || b[0]&0x7f != 0 || int(b[1])<<16|int(b[2])<<8|int(b[3]) < 34 {
		return 0, false
	}
	rate := int(b[14])<<12 | int(b[15])<<4 | int(b[16])>>4
	return rate, rate > 0
}

// validRate is a sample rate taken from a header.
func validRate(f float64) bool { return f >= 1 && f <= math.MaxInt32 }

// bitsAt reads n bits at bit offset off of b, big-endian.
func bitsAt(b []byte, off, n int) int {
	v := 0
	for i := off; i < off+n; i++ {
		v = v<<1 | int(b[i/8]>>(7-i%8)&1)
	}
	return v
}
