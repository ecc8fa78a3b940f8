package mkv

import (
	"math/bits"

	"github.com/mp3converter/mp3converter/internal/probe/codec"
)

// vorbisCounter counts Vorbis packets as vorbis_parser.c does: a packet
// decodes to a quarter of its block size plus a quarter of the one before
// it, the block size given by its mode, whose flags the setup header ends
// with. The decoder gives nothing for its first packet, which only primes
// the overlap.
func vorbisCounter(t *mkvTrack) (*counter, bool) {
	rate, ok := codec.VorbisRate(t.private)
	if !ok || t.codecDelay != 0 {
		return nil, false
	}
	id, setup, ok := xiphHeaders(t.private)
	if !ok || len(id) < 30 {
		return nil, false
	}
	size := [2]int{1 << (id[28] & 15), 1 << (id[28] >> 4)}
	long, ok := vorbisModes(setup)
	if !ok {
		return nil, false
	}
	modeBits := bits.Len(uint(len(long) - 1))
	prev := -1
	count := func(p []byte) (int, bool) {
		if len(p) == 0 || p[0]&1 != 0 {
			return 0, false // a header packet, or empty
		}
		mode := int(p[0]>>1) & (1<<modeBits - 1)
		if mode >= len(long) {
			return 0, false
		}
		cur := size[btoi(long[mode])]
		n := 0
		if prev >= 0 {
			n = (prev + cur) / 4
		}
		prev = cur
		return n, true
	}
	return &counter{rate: rate, warm: int64(rate / 5), silentFirst: true, count: count}, true
}

// xiphHeaders splits Matroska's Vorbis CodecPrivate: three Xiph-laced
// headers, identification, comment and setup.
func xiphHeaders(b []byte) (id, setup []byte, ok bool) {
	sizes, rest, ok := codec.XiphLacing(b)
	if !ok || sizes[0]+sizes[1] > len(rest) {
		return nil, nil, false
	}
	return rest[:sizes[0]], rest[sizes[0]+sizes[1]:], true
}

// vorbisModes reads the block flag of each mode from the end of a setup
// header, as vorbis_parser.c does: backwards from the framing bit, the
// modes are 41 bits each (block flag, window and transform types, mapping),
// preceded by their count less one in 6 bits. It takes the last count
// that fits; more than 63 modes are refused, as there.
func vorbisModes(setup []byte) ([]bool, bool) {
	if len(setup) < 7 || string(setup[:7]) != "\x05vorbis" {
		return nil, false
	}
	r := backBits{b: setup, pos: len(setup)*8 - 1}
	framing := -1
	for framing < 0 && r.left() > 97 {
		if r.bits(1) == 1 {
			framing = r.pos
		}
	}
	if framing < 0 {
		return nil, false
	}
	count, modes := 0, 0
	for r.left() >= 97 {
		if r.bits(8) > 63 || r.bits(16) != 0 || r.bits(16) != 0 {
			break
		}
		r.bits(1)
		modes++
		if modes > 64 {
			break
		}
		peek := r
		if peek.bits(6)+1 == modes {
			count = modes
		}
	}
	if count == 0 || count > 63 {
		return nil, false
	}
	long := make([]bool, count)
	r.pos = framing
	for i := count - 1; i >= 0; i-- {
		r.pos -= 40
		long[i] = r.bits(1) == 1
	}
	return long, true
}

// backBits reads a Vorbis bitstream (least significant bit first)
// backwards from bit pos, each field's first bit read its most
// significant, as vorbis_parser.c reads it reversed.
type backBits struct {
	b   []byte
	pos int // the next bit to read; it decreases
}

func (r *backBits) left() int { return r.pos + 1 }

func (r *backBits) bits(n int) int {
	v := 0
	for range n {
		bit := 0
		if r.pos >= 0 {
			bit = int(r.b[r.pos/8] >> (r.pos % 8) & 1)
		}
		v, r.pos = v<<1|bit, r.pos-1
	}
	return v
}
