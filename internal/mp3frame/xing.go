package mp3frame

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
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

// XingHeader is what goes before the audio frames of an MP3 that ffmpeg
// writes to a file: its ID3v2 tag, and the Xing frame as a template.
type XingHeader struct {
	ID3   []byte
	Frame []byte // the Xing frame
	At    int    // offset of "Xing" or "Info" in Frame
	Delay int    // LAME's encoder delay, from the template
}

// ParseXingHeader finds the ID3v2 tag and the Xing frame at the start of b,
// an MP3 ffmpeg wrote to a file.
func ParseXingHeader(b []byte) (*XingHeader, error) {
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
	h, err := ParseHeader(b[n:])
	if err != nil {
		return nil, fmt.Errorf("no frame after the ID3v2 tag: %w", err)
	}
	at := 4 + h.SideInfo()
	if n+h.Size > len(b) || at+xingSize > h.Size {
		return nil, errors.New("the Xing frame is cut short")
	}
	frame := b[n : n+h.Size]
	if tag := string(frame[at : at+4]); tag != "Xing" && tag != "Info" {
		return nil, errors.New("no Xing header")
	}
	return &XingHeader{
		ID3:   b[:n:n],
		Frame: frame,
		At:    at,
		Delay: int(frame[at+xingDelay])<<4 | int(frame[at+xingDelay+1]>>4),
	}, nil
}

// XingCounter takes the audio frames in order and fills in the Xing frame
// as mp3enc.c does: the same TOC (from the bytes at each of up to 400
// evenly spaced frames), CRCs, and "Info" if every frame has the first's
// bitrate. Only the delay and padding are ours: ffmpeg takes them from the
// encoder, here they come from the samples decoded.
type XingCounter struct {
	frames, size    uint32
	want, seen, pos uint32
	bag             [tocBags]uint64
	crc             uint16
	firstBitrate    int
	variable        bool
	samples         int // per frame
}

func NewXingCounter(h *XingHeader) *XingCounter {
	return &XingCounter{size: uint32(len(h.Frame)), want: 1}
}

// Add counts one audio frame.
func (x *XingCounter) Add(frame []byte, h Header) {
	if x.frames == 0 {
		x.firstBitrate, x.samples = h.Bitrate, h.Samples
	}
	x.variable = x.variable || h.Bitrate != x.firstBitrate
	x.frames++
	x.seen++
	x.size += uint32(len(frame))
	x.crc = CRC16(x.crc, frame)
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

// Finish returns the Xing frame of the counted frames playing samples
// samples: frames, bytes, TOC, delay and padding, music length and CRC,
// and the tag's CRC.
func (x *XingCounter) Finish(h *XingHeader, samples int64) ([]byte, error) {
	padding := int64(x.frames)*int64(x.samples) - int64(h.Delay) - samples
	if x.frames == 0 || padding < 0 || padding > maxPaddings {
		return nil, fmt.Errorf("%d frames cannot hold %d samples after a delay of %d", x.frames, samples, h.Delay)
	}
	f := append([]byte(nil), h.Frame...)
	t := f[h.At:]
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
	t[xingDelay] = byte(h.Delay >> 4)
	t[xingDelay+1] = byte(h.Delay<<4) | byte(padding>>8)
	t[xingDelay+2] = byte(padding)
	binary.BigEndian.PutUint32(t[xingLength:], x.size)
	binary.BigEndian.PutUint16(t[xingMusic:], x.crc)
	// LAME's tag CRC covers the frame up to the field (190 bytes for
	// MPEG-1 stereo). ffmpeg always takes 190, which for mono or MPEG-2
	// reaches past the field, so that no reader accepts its CRC there.
	crcAt := h.At + xingTagCRC
	binary.BigEndian.PutUint16(f[crcAt:], CRC16(0, f[:crcAt]))
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

func CRC16(crc uint16, b []byte) uint16 {
	for _, c := range b {
		crc = crc16Table[byte(crc)^c] ^ crc>>8
	}
	return crc
}

// Bytes is the size of the Xing frame and the frames counted so far.
func (x *XingCounter) Bytes() int64 { return int64(x.size) }

// Samples is how many samples the MP3 under h plays, as a gapless decoder
// counts them (frames*spf - delay - padding), spf samples a frame.
func (h *XingHeader) Samples(spf int) int64 {
	t := h.Frame[h.At:]
	frames := int64(binary.BigEndian.Uint32(t[xingFrames:]))
	padding := int64(t[xingDelay+1]&0x0f)<<8 | int64(t[xingDelay+2])
	return frames*int64(spf) - int64(h.Delay) - padding
}

// Tag is what an MP3's Xing frame says, beside what its audio frames are:
// for tests that hold a file to what a gapless decoder needs.
type Tag struct {
	Frames, Bytes, MusicLength int // as the tag says
	Delay, Padding             int
	MusicCRC, TagCRC           uint16
	AudioFrames, AudioBytes    int    // counted: Bytes counts the Xing frame too
	AudioCRC                   uint16 // of the audio frames
	LAMECRC                    uint16 // of the frame's bytes before the tag CRC
	FFmpegCRC                  uint16 // of its first 190 bytes, as ffmpeg's mp3enc.c
}

// ReadTag reads the tag of the MP3 b and counts its frames. Its errors are
// ParseXingHeader's, and a frame's that does not read (wrapping ErrNotFrame
// or io.ErrUnexpectedEOF).
func ReadTag(b []byte) (Tag, error) {
	h, err := ParseXingHeader(b)
	if err != nil {
		return Tag{}, err
	}
	x := h.Frame[h.At:]
	be := func(o, n int) int {
		v := 0
		for _, c := range x[o : o+n] {
			v = v<<8 | int(c)
		}
		return v
	}
	t := Tag{
		Frames: be(xingFrames, 4), Bytes: be(xingBytes, 4), MusicLength: be(xingLength, 4),
		Delay: be(xingDelay, 3) >> 12, Padding: be(xingDelay, 3) & 0xFFF,
		MusicCRC: uint16(be(xingMusic, 2)), TagCRC: uint16(be(xingTagCRC, 2)),
		AudioBytes: len(h.Frame),
		LAMECRC:    CRC16(0, h.Frame[:h.At+xingTagCRC]),
	}
	padded := append(append([]byte(nil), h.Frame...), make([]byte, 190)...)
	padded[h.At+xingTagCRC], padded[h.At+xingTagCRC+1] = 0, 0
	t.FFmpegCRC = CRC16(0, padded[:190])
	frames := NewReader(bytes.NewReader(b[len(h.ID3)+len(h.Frame):]))
	for {
		f, _, err := frames.Next()
		if err == io.EOF {
			return t, nil
		}
		if err != nil {
			return t, fmt.Errorf("frame %d: %w", t.AudioFrames, err)
		}
		t.AudioFrames++
		t.AudioBytes += len(f)
		t.AudioCRC = CRC16(t.AudioCRC, f)
	}
}
