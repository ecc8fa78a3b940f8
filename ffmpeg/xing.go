package ffmpeg

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The Xing (VBR) or Info (CBR) header frame with LAME's extension, as
// ffmpeg's mp3 muxer writes it (libavformat/mp3enc.c, mp3_write_xing and
// mp3_update_xing), at xingAt bytes into its frame:
//
//	+0   "Xing" or "Info"    +4   flags 0x0F: frames, bytes, TOC, quality
//	+8   frames (audio only) +12  bytes: this frame and the audio frames
//	+16  TOC, 100 bytes      +116 VBR quality
//	+120 encoder, 9 bytes    ...  LAME fields ffmpeg leaves 0
//	+141 encoder delay (12 bits) and padding (12 bits)
//	+148 music length (bytes, as +12)
//	+152 music CRC: CRC-16 of the audio frames
//	+154 tag CRC: CRC-16 of the frame's bytes before it
//
// A decoder honouring the tag (ffmpeg's mp3dec does) plays
// frames*samples - delay - padding samples.
const (
	xingFrames  = 8
	xingBytes   = 12
	xingTOC     = 16
	xingDelay   = 141
	xingLength  = 148
	xingMusic   = 152
	xingTagCRC  = 154
	xingSize    = 156
	tocEntries  = 100
	tocBags     = 400 // as mp3enc.c's XING_NUM_BAGS
	maxPaddings = 1<<12 - 1
)

// mp3Header is what goes before the audio frames of an MP3 that ffmpeg
// writes to a file: its ID3v2 tag, and the Xing frame as a template.
type mp3Header struct {
	id3   []byte
	frame []byte // the Xing frame
	at    int    // offset of "Xing" or "Info" in frame
	delay int    // LAME's encoder delay, from the template
}

// parseMP3Header finds the ID3v2 tag and the Xing frame at the start of b,
// an MP3 ffmpeg wrote to a file.
func parseMP3Header(b []byte) (*mp3Header, error) {
	n := 0
	if len(b) >= 10 && string(b[:3]) == "ID3" {
		for _, c := range b[6:10] {
			if c >= 0x80 {
				return nil, errors.New("bad ID3v2 size")
			}
			n = n<<7 | int(c)
		}
		n += 10
		if b[5]&0x10 != 0 {
			n += 10 // footer
		}
	}
	if n > len(b) {
		return nil, errors.New("ID3v2 tag cut short")
	}
	h, err := parseFrameHeader(b[n:])
	if err != nil {
		return nil, fmt.Errorf("no frame after the ID3v2 tag: %w", err)
	}
	at := 4 + h.sideInfo()
	if n+h.size > len(b) || at+xingSize > h.size {
		return nil, errors.New("the Xing frame is cut short")
	}
	frame := b[n : n+h.size]
	if tag := string(frame[at : at+4]); tag != "Xing" && tag != "Info" {
		return nil, errors.New("no Xing header")
	}
	return &mp3Header{
		id3:   b[:n:n],
		frame: frame,
		at:    at,
		delay: int(frame[at+xingDelay])<<4 | int(frame[at+xingDelay+1]>>4),
	}, nil
}

// xingCounter takes the audio frames in order and fills in the Xing frame
// as mp3enc.c does: the same TOC (from the bytes at each of up to 400
// evenly spaced frames), CRCs, and "Info" if every frame has the first's
// bitrate. Only the delay and padding are ours: ffmpeg takes them from the
// encoder, here they come from the samples decoded.
type xingCounter struct {
	frames, size    uint32
	want, seen, pos uint32
	bag             [tocBags]uint64
	crc             uint16
	firstBitrate    int
	variable        bool
	samples         int // per frame
}

func newXingCounter(h *mp3Header) *xingCounter {
	return &xingCounter{size: uint32(len(h.frame)), want: 1}
}

// add counts one audio frame.
func (x *xingCounter) add(frame []byte, h frameHeader) {
	if x.frames == 0 {
		x.firstBitrate, x.samples = h.bitrate, h.samples
	}
	x.variable = x.variable || h.bitrate != x.firstBitrate
	x.frames++
	x.seen++
	x.size += uint32(len(frame))
	x.crc = crc16(x.crc, frame)
	if x.want == x.seen {
		x.bag[x.pos] = uint64(x.size)
		if x.pos++; x.pos == tocBags {
			// Keep every second bag, and take half as many from now on.
			for i := 1; i < tocBags; i += 2 {
				x.bag[i>>1] = x.bag[i]
			}
			x.want *= 2
			x.pos = tocBags / 2
		}
		x.seen = 0
	}
}

// finish returns the Xing frame of the counted frames playing samples
// samples: frames, bytes, TOC, delay and padding, music length and CRC,
// and the tag's CRC.
func (x *xingCounter) finish(h *mp3Header, samples int64) ([]byte, error) {
	padding := int64(x.frames)*int64(x.samples) - int64(h.delay) - samples
	if x.frames == 0 || padding < 0 || padding > maxPaddings {
		return nil, fmt.Errorf("%d frames cannot hold %d samples after a delay of %d", x.frames, samples, h.delay)
	}
	f := append([]byte(nil), h.frame...)
	t := f[h.at:]
	copy(t, "Xing")
	if !x.variable {
		copy(t, "Info")
	}
	binary.BigEndian.PutUint32(t[xingFrames:], x.frames)
	binary.BigEndian.PutUint32(t[xingBytes:], x.size)
	toc := t[xingTOC : xingTOC+tocEntries]
	toc[0] = 0
	for i := 1; i < tocEntries; i++ {
		j := uint32(i) * x.pos / tocEntries
		toc[i] = byte(min(256*x.bag[j]/uint64(x.size), 255))
	}
	t[xingDelay] = byte(h.delay >> 4)
	t[xingDelay+1] = byte(h.delay<<4) | byte(padding>>8)
	t[xingDelay+2] = byte(padding)
	binary.BigEndian.PutUint32(t[xingLength:], x.size)
	binary.BigEndian.PutUint16(t[xingMusic:], x.crc)
	// LAME's tag CRC covers the frame up to the field (190 bytes for
	// MPEG-1 stereo). ffmpeg always takes 190, which for mono or MPEG-2
	// reaches past the field, so that no reader accepts its CRC there.
	crcAt := h.at + xingTagCRC
	binary.BigEndian.PutUint16(f[crcAt:], crc16(0, f[:crcAt]))
	return f, nil
}

// crc16Table is CRC-16/ARC (polynomial 0x8005, reflected): LAME's CRC and
// ffmpeg's AV_CRC_16_ANSI_LE.
var crc16Table = func() (t [256]uint16) {
	for i := range t {
		c := uint16(i)
		for range 8 {
			if c&1 != 0 {
				c = c>>1 ^ 0xA001
			} else {
				c >>= 1
			}
		}
		t[i] = c
	}
	return t
}()

func crc16(crc uint16, b []byte) uint16 {
	for _, c := range b {
		crc = crc16Table[byte(crc)^c] ^ crc>>8
	}
	return crc
}
