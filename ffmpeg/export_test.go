package ffmpeg

import (
	"bytes"
	"fmt"
	"io"
	"time"
)

// Names for the external tests and FuzzParseProbe.
var (
	ParseProbe = parseProbe
	Args       = mp3Args
	DecodeArgs = decodeArgs
	SizeCap    = sizeCap
)

// QuickProbe is quickProbe, the probe without ffprobe.
var QuickProbe = quickProbe

// SampleExact is sampleExact: may the parallel encode seek in the file.
var SampleExact = sampleExact

// ForceFFprobe makes c's Probe always run ffprobe.
func ForceFFprobe(c *Transcoder) { c.noQuickProbe = true }

// ParallelStats describe a parallel encode.
type ParallelStats = parallelStats

// SetParallel sets the segment length of c's parallel encodes, and a
// function that gets each one's figures.
func SetParallel(c *Transcoder, segment time.Duration, observe func(ParallelStats)) {
	c.segment, c.observe = segment, observe
}

// Fraction is the progress reported after t seconds of output of a source
// probed at probed seconds, converted with limit.
func Fraction(probed float64, limit time.Duration, t float64) float64 {
	return progressMeter{probed: probed, limit: limit}.Fraction(t)
}

// Tag is what an MP3's Xing frame says, beside what its audio frames are.
type Tag struct {
	Frames, Bytes, MusicLength int // as the tag says
	Delay, Padding             int
	MusicCRC, TagCRC           uint16
	AudioFrames, AudioBytes    int    // counted: Bytes counts the Xing frame too
	AudioCRC                   uint16 // of the audio frames
	LAMECRC                    uint16 // of the frame's bytes before the tag CRC
	FFmpegCRC                  uint16 // of its first 190 bytes, as ffmpeg's mp3enc.c
}

// ReadTag reads the tag of the MP3 b and counts its frames.
func ReadTag(b []byte) (Tag, error) {
	h, err := parseMP3Header(b)
	if err != nil {
		return Tag{}, err
	}
	x := h.frame[h.at:]
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
		AudioBytes: len(h.frame),
		LAMECRC:    crc16(0, h.frame[:h.at+xingTagCRC]),
	}
	padded := append(append([]byte(nil), h.frame...), make([]byte, 190)...)
	padded[h.at+xingTagCRC], padded[h.at+xingTagCRC+1] = 0, 0
	t.FFmpegCRC = crc16(0, padded[:190])
	frames := newFrameReader(bytes.NewReader(b[len(h.id3)+len(h.frame):]))
	for {
		f, _, err := frames.next()
		if err == io.EOF {
			return t, nil
		}
		if err != nil {
			return t, fmt.Errorf("frame %d: %w", t.AudioFrames, err)
		}
		t.AudioFrames++
		t.AudioBytes += len(f)
		t.AudioCRC = crc16(t.AudioCRC, f)
	}
}
