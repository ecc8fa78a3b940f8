// Package probe answers Probe without ffprobe. ffprobe costs about 145 ms
// a job here (110 ms to load its libraries, 35 ms decoding video for
// stream information): half the work of converting a 10 s clip. Most
// uploads are MP4 or Matroska, whose headers say all that Probe needs, so
// this package reads them (mp4, mkv) and gives what ffprobe would say of
// the file, as ffmpeg's demuxers read the same bytes. Whatever it is not
// sure of it leaves to ffprobe: files without audio, fragments, odd sizes,
// codecs whose rate only decoding tells, title tags in unusual places. It
// reads headers and indexes only, never media data, and never says "mp3",
// which makes a conversion copy the stream, unless the container says so
// unambiguously. Titles are as the file holds them: the caller cleans
// them as it cleans ffprobe's.
package probe

import (
	"encoding/binary"
	"io"
	"os"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/internal/probe/codec"
	"github.com/mp3converter/mp3converter/internal/probe/mkv"
	"github.com/mp3converter/mp3converter/internal/probe/mp4"
)

// idEBML starts a Matroska file: the EBML header's element ID.
const idEBML = 0x1A45DFA3

// Probe probes the media in r, size bytes long. ok false means not sure:
// ask ffprobe.
func Probe(r io.ReaderAt, size int64) (info *mp3converter.MediaInfo, ok bool) {
	var head [8]byte
	if n, _ := r.ReadAt(head[:], 0); n < len(head) {
		return nil, false
	}
	switch {
	case string(head[4:8]) == "ftyp":
		info, ok = mp4.Probe(r, size)
	case binary.BigEndian.Uint32(head[:4]) == idEBML:
		info, ok = mkv.Probe(r, size)
	}
	if ok && (info.AudioCodec == "" || !(info.Duration > 0 && info.Duration < codec.MaxSeconds)) {
		return nil, false
	}
	return info, ok
}

// File runs Probe on the file at path.
func File(path string) (info *mp3converter.MediaInfo, ok bool) {
	ok = parseFile(path, func(r io.ReaderAt, size int64) bool {
		info, ok = Probe(r, size)
		return ok
	})
	if !ok {
		return nil, false
	}
	return info, true
}

// SampleExact says whether the file at path is an MP4 whose first audio
// track is timed to the sample, so that a seek in it lands on the sample
// asked (see mp4.SampleExact); false for any doubt.
func SampleExact(path string) bool {
	return parseFile(path, mp4.SampleExact)
}

// MatroskaIndex indexes the audio blocks of the Matroska file at path
// (see mkv.Index), which it keeps open until close; false for any doubt.
func MatroskaIndex(path string) (ix *mkv.Index, close func() error, ok bool) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, false
	}
	if !parseOpen(f, func(r io.ReaderAt, size int64) bool {
		ix, ok = mkv.NewIndex(r, size)
		return ok
	}) {
		f.Close()
		return nil, nil, false
	}
	return ix, f.Close, true
}

// parseFile runs parse on the file at path and its size.
func parseFile(path string, parse func(r io.ReaderAt, size int64) bool) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	return parseOpen(f, parse)
}

// parseOpen runs parse on the open file f and its size. A bug in a
// parser costs a fallback to ffprobe, not the worker: a panic is false.
func parseOpen(f *os.File, parse func(r io.ReaderAt, size int64) bool) (ok bool) {
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
