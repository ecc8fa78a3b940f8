package mkv

import (
	"encoding/binary"
	"strings"

	"github.com/mp3converter/mp3converter/internal/probe/codec"
)

// How many samples ffmpeg's decoders give for each block of the codecs
// Index takes, read from the block's first bytes as libavcodec's parsers
// read them (opus_parser.c, vorbis_parser.c, mpegaudiodecheader.c), and
// what a decoder drops at its start.

// counter counts one track's blocks.
type counter struct {
	rate  int
	skip  int64 // samples the whole decode drops at its start (Opus's pre-skip)
	warm  int64 // samples a lane decodes before the first it uses: a decoder started mid-stream converges
	whole bool  // count reads a block whole, not its first bytes
	// laneInit is what a decoder started on a lane's first block drops:
	// Opus's pre-skip again (the decoder drops it, not the demuxer);
	// silentFirst, Vorbis's first packet, which only primes the overlap.
	laneInit    int64
	silentFirst bool
	last        int64 // the samples of the block counted last
	count       func(p []byte) (int, bool)
}

// laneSkip is what a lane started on block i drops.
func (c *counter) laneSkip(ix *Index, i int) int64 {
	s := c.laneInit
	if c.silentFirst && i+1 < len(ix.blocks) {
		s += ix.blocks[i+1].start - ix.blocks[i].start
	}
	return s
}

// newCounter returns the counter of t's codec, or false.
func newCounter(t *mkvTrack) (*counter, bool) {
	id := t.codecID
	switch {
	case id == "A_OPUS":
		return opusCounter(t)
	case id == "A_VORBIS":
		return vorbisCounter(t)
	case strings.HasPrefix(id, "A_AAC") && t.codecDelay == 0:
		rate, ok := codec.AACRate(t.private)
		if !ok || len(t.private) < 2 || t.private[1]&0x04 != 0 { // frameLengthFlag: 960
			return nil, false
		}
		return &counter{rate: rate, warm: int64(rate / 5), count: func([]byte) (int, bool) { return 1024, true }}, true
	case id == "A_MPEG/L3" && t.codecDelay == 0 && codec.ValidRate(t.rate) && t.outRate == 0:
		rate := int(t.rate)
		return &counter{rate: rate, warm: int64(rate / 5), whole: true,
			count: func(p []byte) (int, bool) { return mpegSamples(p, rate) }}, true
	}
	return nil, false
}

// opusCounter counts Opus packets by their TOC (RFC 6716 3.1). The
// decoder drops the OpusHead's pre-skip at its start, which CodecDelay,
// if any, must agree with.
func opusCounter(t *mkvTrack) (*counter, bool) {
	p := t.private
	if len(p) < 19 || string(p[:8]) != "OpusHead" {
		return nil, false
	}
	pre := int64(binary.LittleEndian.Uint16(p[10:]))
	if t.codecDelay != 0 && t.codecDelay != uint64(pre)*1e9/48000 && t.codecDelay != (uint64(pre)*1e9+47999)/48000 {
		return nil, false
	}
	return &counter{rate: 48000, skip: pre, laneInit: pre, warm: 48000 / 5, count: opusSamples}, true
}

// opusFrame is the samples of a frame at 48 kHz, by TOC configuration.
func opusFrame(config byte) int {
	switch {
	case config < 12: // SILK: 10, 20, 40, 60 ms
		return [4]int{480, 960, 1920, 2880}[config%4]
	case config < 16: // hybrid: 10, 20 ms
		return [2]int{480, 960}[config%2]
	}
	return [4]int{120, 240, 480, 960}[config%4] // CELT: 2.5 to 20 ms
}

func opusSamples(p []byte) (int, bool) {
	if len(p) < 1 {
		return 0, false
	}
	n := 1
	switch p[0] & 3 {
	case 1, 2:
		n = 2
	case 3:
		if len(p) < 2 {
			return 0, false
		}
		n = int(p[1] & 0x3f)
	}
	s := n * opusFrame(p[0]>>3)
	return s, n > 0 && s <= 5760 // at most 120 ms
}

// mpegSamples counts the MPEG audio frames that p holds, each at rate; a
// block must hold whole frames.
func mpegSamples(p []byte, rate int) (int, bool) {
	total := 0
	for len(p) > 0 {
		size, samples, r, ok := mpegHeader(p)
		if !ok || r != rate || size > len(p) {
			return 0, false
		}
		total, p = total+samples, p[size:]
	}
	return total, total > 0
}

var (
	mpegRates   = [3]int{44100, 48000, 32000}
	mpegBitrate = [2][3][15]int{ // [MPEG-1, MPEG-2/2.5][layer I, II, III], kbit/s
		{{0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448},
			{0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384},
			{0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320}},
		{{0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256},
			{0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160},
			{0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160}},
	}
)

// mpegHeader reads an MPEG audio frame header: the frame's bytes, its
// samples and rate. Free format (no bitrate) is refused.
func mpegHeader(p []byte) (size, samples, rate int, ok bool) {
	if len(p) < 4 || p[0] != 0xff || p[1]&0xe0 != 0xe0 {
		return 0, 0, 0, false
	}
	version, layer := p[1]>>3&3, 4-int(p[1]>>1&3) // version 3 MPEG-1, 2 MPEG-2, 0 MPEG-2.5
	bi, ri, pad := int(p[2]>>4), int(p[2]>>2&3), int(p[2]>>1&1)
	if version == 1 || layer == 4 || bi == 0 || bi == 15 || ri == 3 {
		return 0, 0, 0, false
	}
	lsf := btoi(version != 3)
	rate = mpegRates[ri] >> (lsf + btoi(version == 0))
	bitrate := mpegBitrate[lsf][layer-1][bi] * 1000
	switch {
	case layer == 1:
		return (12*bitrate/rate + pad) * 4, 384, rate, true
	case layer == 3 && lsf == 1:
		return 72*bitrate/rate + pad, 576, rate, true
	}
	return 144*bitrate/rate + pad, 1152, rate, true
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
