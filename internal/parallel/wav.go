package parallel

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// PCMFormat is the decoded audio FromDecoder cuts: 32-bit float,
// interleaved, as ffmpeg's wav muxer describes it on a pipe.
type PCMFormat struct {
	Rate, Channels int
}

// sampleBytes is the size of one sample of every channel.
func (p PCMFormat) sampleBytes() int { return 4 * p.Channels }

// WAVE format tags of 32-bit float samples.
const (
	waveFloat      = 3
	waveExtensible = 0xFFFE
)

// readWAVHeader reads a WAV header up to its data chunk, whose size it
// ignores: on a pipe ffmpeg cannot fill it in. It accepts 32-bit float only.
func readWAVHeader(r io.Reader) (PCMFormat, error) {
	var riff [12]byte
	if _, err := io.ReadFull(r, riff[:]); err != nil {
		return PCMFormat{}, err
	}
	if string(riff[:4]) != "RIFF" || string(riff[8:]) != "WAVE" {
		return PCMFormat{}, errors.New("decoder output is not WAV")
	}
	var f PCMFormat
	for chunks := 0; chunks < 16; chunks++ {
		var head [8]byte
		if _, err := io.ReadFull(r, head[:]); err != nil {
			return PCMFormat{}, err
		}
		size := int64(binary.LittleEndian.Uint32(head[4:]))
		switch string(head[:4]) {
		case "data":
			if f.Rate == 0 {
				return PCMFormat{}, errors.New("WAV data before its format")
			}
			return f, nil
		case "fmt ":
			if size < 16 || size > 64 {
				return PCMFormat{}, fmt.Errorf("WAV format chunk of %d bytes", size)
			}
			b := make([]byte, size)
			if _, err := io.ReadFull(r, b); err != nil {
				return PCMFormat{}, err
			}
			var err error
			if f, err = parseWAVFormat(b); err != nil {
				return PCMFormat{}, err
			}
		default:
			if size > 1<<16 {
				return PCMFormat{}, fmt.Errorf("WAV %q chunk of %d bytes", head[:4], size)
			}
			if _, err := io.CopyN(io.Discard, r, size+size&1); err != nil {
				return PCMFormat{}, err
			}
		}
	}
	return PCMFormat{}, errors.New("no data in the WAV header")
}

// parseWAVFormat reads a fmt chunk of mono or stereo 32-bit float.
func parseWAVFormat(b []byte) (PCMFormat, error) {
	tag := binary.LittleEndian.Uint16(b)
	channels := int(binary.LittleEndian.Uint16(b[2:]))
	rate := int(binary.LittleEndian.Uint32(b[4:]))
	bits := binary.LittleEndian.Uint16(b[14:])
	// KSDATAFORMAT_SUBTYPE_IEEE_FLOAT begins with the tag of float.
	if tag == waveExtensible && len(b) >= 26 && bytes.Equal(b[24:26], []byte{waveFloat, 0}) {
		tag = waveFloat
	}
	if tag != waveFloat || bits != 32 || channels < 1 || channels > 2 || rate <= 0 {
		return PCMFormat{}, fmt.Errorf("decoder output is not mono or stereo float (format %#x, %d channels, %d bits, %d Hz)", tag, channels, bits, rate)
	}
	return PCMFormat{Rate: rate, Channels: channels}, nil
}
