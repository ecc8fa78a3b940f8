// Package mp3frame edits MPEG audio Layer III streams as LAME writes them,
// so that the frames of several encodes can be joined into one file: it reads
// frame headers and side information (frame.go), takes each frame's main data
// out of the bit reservoir and packs it again (reservoir.go), and fills in
// the Xing/LAME header frame for the whole file (xing.go). It knows the
// bitstream only: no process, no file, no container.
package mp3frame

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// MPEG audio Layer III frames, as LAME writes them: enough of the header to
// walk a stream frame by frame, count its samples, and find the Xing tag.

// Header is what the 4-byte header of a Layer III frame says.
type Header struct {
	LSF      bool // MPEG-2 or 2.5 (low sampling frequencies): one granule a frame
	Bitrate  int  // bit/s
	Rate     int  // samples a second
	Mono     bool
	Size     int // bytes, header included
	Samples  int // per channel: 1152, or 576 if LSF
	BitIndex int // the bitrate index, 1 to 14
}

var ErrNotFrame = errors.New("not an MPEG audio Layer III frame header")

// layer3Kbps are the bitrates of indexes 1 to 14, for MPEG-1 and for MPEG-2/2.5.
var layer3Kbps = [2][15]int{
	{0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320},
	{0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160},
}

// mpeg1Rates are MPEG-1's sample rates; MPEG-2 halves them, MPEG-2.5 quarters them.
var mpeg1Rates = [3]int{44100, 48000, 32000}

// ParseHeader reads the header at the start of b. It refuses free
// format (bitrate index 0), reserved values and layers other than III.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < 4 || b[0] != 0xFF || b[1]&0xE0 != 0xE0 {
		return Header{}, ErrNotFrame
	}
	version, layer := b[1]>>3&3, b[1]>>1&3
	bitIndex, rateIndex := int(b[2]>>4), int(b[2]>>2&3)
	if version == 1 || layer != 1 || bitIndex == 0 || bitIndex == 15 || rateIndex == 3 {
		return Header{}, ErrNotFrame
	}
	h := Header{LSF: version != 3, Mono: b[3]>>6 == 3, BitIndex: bitIndex}
	h.Rate = mpeg1Rates[rateIndex]
	switch version {
	case 2: // MPEG-2
		h.Rate /= 2
	case 0: // MPEG-2.5
		h.Rate /= 4
	}
	lsf, slot := 0, 144
	h.Samples = 1152
	if h.LSF {
		lsf, slot, h.Samples = 1, 72, 576
	}
	h.Bitrate = layer3Kbps[lsf][bitIndex] * 1000
	h.Size = slot*h.Bitrate/h.Rate + int(b[2]>>1&1)
	return h, nil
}

// SideInfo is the size of the side information after the header (and
// before a Xing tag).
func (h Header) SideInfo() int {
	switch {
	case !h.LSF && !h.Mono:
		return 32
	case h.LSF && h.Mono:
		return 9
	}
	return 17
}

// Reader reads a stream of Layer III frames, such as ffmpeg writes to
// a pipe with neither ID3 tag nor Xing header.
type Reader struct {
	r   *bufio.Reader
	buf []byte
}

func NewReader(r io.Reader) *Reader {
	return &Reader{r: bufio.NewReaderSize(r, 64<<10), buf: make([]byte, 0, 2048)}
}

// Next returns the next frame, valid until the next call, and its header.
// It returns io.EOF at the end of the stream, io.ErrUnexpectedEOF for a
// frame cut short, and ErrNotFrame where no frame starts.
func (f *Reader) Next() ([]byte, Header, error) {
	head, err := f.r.Peek(4)
	if err == io.EOF && len(head) == 0 {
		return nil, Header{}, io.EOF
	} else if err != nil {
		return nil, Header{}, io.ErrUnexpectedEOF
	}
	h, err := ParseHeader(head)
	if err != nil {
		return nil, h, fmt.Errorf("%w: % x", err, head)
	}
	f.buf = f.buf[:h.Size]
	if _, err := io.ReadFull(f.r, f.buf); err != nil {
		return nil, h, io.ErrUnexpectedEOF
	}
	return f.buf, h, nil
}

// Side information: where a frame's main data begins (main_data_begin,
// bytes back into the data of the frames before it: the bit reservoir),
// and how long it is (the part2_3_length of each granule and channel).
// ISO 11172-3 2.4.1.7 and ISO 13818-3: MPEG-1 has 9 bits of
// main_data_begin and two granules of 59 bits a channel; MPEG-2 8 bits and
// one granule of 63.

// MaxBack is the furthest back main data may begin.
func (h Header) MaxBack() int {
	if h.LSF {
		return 255
	}
	return 511
}

// protected says whether a CRC follows the header.
func protected(frame []byte) bool { return frame[1]&1 == 0 }

// DataStart is the offset of the frame's data area: after the header, CRC
// and side information.
func (h Header) DataStart(frame []byte) int {
	n := 4 + h.SideInfo()
	if protected(frame) {
		n += 2
	}
	return n
}

// sideBits reads n bits at bit offset off of side.
func sideBits(side []byte, off, n int) int {
	v := 0
	for i := off; i < off+n; i++ {
		v = v<<1 | int(side[i/8]>>(7-i%8)&1)
	}
	return v
}

// MainData returns main_data_begin and the length in bytes of the main
// data of frame, whose header is h.
func (h Header) MainData(frame []byte) (begin, size int) {
	side := frame[h.DataStart(frame)-h.SideInfo():]
	channels := 2
	if h.Mono {
		channels = 1
	}
	off, block, granules := 9, 59, 2 // MPEG-1: private bits, scfsi
	if h.Mono {
		off += 5 + 4
	} else {
		off += 3 + 8
	}
	if h.LSF {
		off, block, granules = 8+2, 63, 1
		if h.Mono {
			off = 8 + 1
		}
	}
	bits := 0
	for i := range granules * channels {
		bits += sideBits(side, off+i*block, 12)
	}
	return sideBits(side, 0, 9-btoi(h.LSF)), (bits + 7) / 8
}

// SetMainDataBegin writes main_data_begin into frame's side information.
func (h Header) SetMainDataBegin(frame []byte, begin int) {
	side := frame[h.DataStart(frame)-h.SideInfo():]
	if h.LSF {
		side[0] = byte(begin)
		return
	}
	side[0] = byte(begin >> 1)
	side[1] = side[1]&0x7F | byte(begin&1)<<7
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
