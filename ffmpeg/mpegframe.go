package ffmpeg

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// MPEG audio Layer III frames, as LAME writes them: enough of the header to
// walk a stream frame by frame, count its samples, and find the Xing tag.

// frameHeader is what the 4-byte header of a Layer III frame says.
type frameHeader struct {
	lsf      bool // MPEG-2 or 2.5 (low sampling frequencies): one granule a frame
	bitrate  int  // bit/s
	rate     int  // samples a second
	mono     bool
	size     int // bytes, header included
	samples  int // per channel: 1152, or 576 if lsf
	bitIndex int // the bitrate index, 1 to 14
}

var errNotFrame = errors.New("not an MPEG audio Layer III frame header")

// layer3Kbps are the bitrates of indexes 1 to 14, for MPEG-1 and for MPEG-2/2.5.
var layer3Kbps = [2][15]int{
	{0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320},
	{0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160},
}

// mpeg1Rates are MPEG-1's sample rates; MPEG-2 halves them, MPEG-2.5 quarters them.
var mpeg1Rates = [3]int{44100, 48000, 32000}

// parseFrameHeader reads the header at the start of b. It refuses free
// format (bitrate index 0), reserved values and layers other than III.
func parseFrameHeader(b []byte) (frameHeader, error) {
	if len(b) < 4 || b[0] != 0xFF || b[1]&0xE0 != 0xE0 {
		return frameHeader{}, errNotFrame
	}
	version, layer := b[1]>>3&3, b[1]>>1&3
	bitIndex, rateIndex := int(b[2]>>4), int(b[2]>>2&3)
	if version == 1 || layer != 1 || bitIndex == 0 || bitIndex == 15 || rateIndex == 3 {
		return frameHeader{}, errNotFrame
	}
	h := frameHeader{lsf: version != 3, mono: b[3]>>6 == 3, bitIndex: bitIndex}
	h.rate = mpeg1Rates[rateIndex]
	switch version {
	case 2: // MPEG-2
		h.rate /= 2
	case 0: // MPEG-2.5
		h.rate /= 4
	}
	lsf, slot := 0, 144
	h.samples = 1152
	if h.lsf {
		lsf, slot, h.samples = 1, 72, 576
	}
	h.bitrate = layer3Kbps[lsf][bitIndex] * 1000
	h.size = slot*h.bitrate/h.rate + int(b[2]>>1&1)
	return h, nil
}

// sideInfo is the size of the side information after the header (and
// before a Xing tag).
func (h frameHeader) sideInfo() int {
	switch {
	case !h.lsf && !h.mono:
		return 32
	case h.lsf && h.mono:
		return 9
	}
	return 17
}

// frameReader reads a stream of Layer III frames, such as ffmpeg writes to
// a pipe with neither ID3 tag nor Xing header.
type frameReader struct {
	r   *bufio.Reader
	buf []byte
}

func newFrameReader(r io.Reader) *frameReader {
	return &frameReader{r: bufio.NewReaderSize(r, 64<<10), buf: make([]byte, 0, 2048)}
}

// next returns the next frame, valid until the next call, and its header.
// It returns io.EOF at the end of the stream, io.ErrUnexpectedEOF for a
// frame cut short, and errNotFrame where no frame starts.
func (f *frameReader) next() ([]byte, frameHeader, error) {
	head, err := f.r.Peek(4)
	if err == io.EOF && len(head) == 0 {
		return nil, frameHeader{}, io.EOF
	} else if err != nil {
		return nil, frameHeader{}, io.ErrUnexpectedEOF
	}
	h, err := parseFrameHeader(head)
	if err != nil {
		return nil, h, fmt.Errorf("%w: % x", err, head)
	}
	f.buf = f.buf[:h.size]
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

// maxBack is the furthest back main data may begin.
func (h frameHeader) maxBack() int {
	if h.lsf {
		return 255
	}
	return 511
}

// protected says whether a CRC follows the header.
func protected(frame []byte) bool { return frame[1]&1 == 0 }

// dataStart is the offset of the frame's data area: after the header, CRC
// and side information.
func (h frameHeader) dataStart(frame []byte) int {
	n := 4 + h.sideInfo()
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

// mainData returns main_data_begin and the length in bytes of the main
// data of frame, whose header is h.
func (h frameHeader) mainData(frame []byte) (begin, size int) {
	side := frame[h.dataStart(frame)-h.sideInfo():]
	channels := 2
	if h.mono {
		channels = 1
	}
	off, block, granules := 9, 59, 2 // MPEG-1: private bits, scfsi
	if h.mono {
		off += 5 + 4
	} else {
		off += 3 + 8
	}
	if h.lsf {
		off, block, granules = 8+2, 63, 1
		if h.mono {
			off = 8 + 1
		}
	}
	bits := 0
	for i := range granules * channels {
		bits += sideBits(side, off+i*block, 12)
	}
	return sideBits(side, 0, 9-btoi(h.lsf)), (bits + 7) / 8
}

// setMainDataBegin writes main_data_begin into frame's side information.
func (h frameHeader) setMainDataBegin(frame []byte, begin int) {
	side := frame[h.dataStart(frame)-h.sideInfo():]
	if h.lsf {
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
