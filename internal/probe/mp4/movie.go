// Package mp4 reads ISO BMFF (MP4, QuickTime, 3GP) as ffmpeg's mov demuxer
// (libavformat/mov.c) reads it: the first audio track's codec, rate and
// duration, and the movie's title. box.go walks boxes and reads their
// fields; movie.go, track.go, entry.go and title.go hold the rules that
// turn them into ffprobe's answer, or into "not sure".
package mp4

import (
	"fmt"
	"io"
	"math"
	"math/bits"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/internal/probe/codec"
)

const (
	// Format is ffprobe's format_name for the files read here.
	Format = "mov,mp4,m4a,3gp,3g2,mj2"
	// maxMoov bounds the one box read whole; a two-hour film's is a few MiB.
	maxMoov = 64 << 20
	// maxTopBoxes bounds the walk over the top level, which ffmpeg takes to
	// the end of the file; a plain file has four or five boxes.
	maxTopBoxes = 1024
)

// topLevel are the boxes a plain file holds at its top level. Anything
// else is refused: fragments (moof, sidx, styp, mfra), a moov hidden in a
// hoov, a top-level meta or udta that ffmpeg would read tags from.
var topLevel = map[string]bool{"ftyp": true, "moov": true, "mdat": true, "free": true, "skip": true, "wide": true, "uuid": true}

// Probe probes the MP4 in r, size bytes long; false means not sure. The
// title is as the file holds it.
func Probe(r io.ReaderAt, size int64) (*mp3converter.MediaInfo, bool) {
	m, ok := readMovie(r, size)
	if !ok {
		return nil, false
	}
	return m.info()
}

// SampleExact says whether the first audio track of the MP4 in r is timed
// in a multiple of its sample rate, so that every sample has an exact
// time and a seek lands on the sample asked, and evenly (sttsEven), so
// that a sample's time is its place in the decoder's output; false for
// any doubt. A track timed in milliseconds, say, is not.
func SampleExact(r io.ReaderAt, size int64) bool {
	m, ok := readMovie(r, size)
	return ok && m.audio > 0 && m.first.rate > 0 && m.first.timescale%uint32(m.first.rate) == 0 && m.first.even
}

// readMovie reads the moov of the MP4 in r, size bytes long.
func readMovie(r io.ReaderAt, size int64) (*movie, bool) {
	at, n, ok := findMoov(r, size)
	if !ok {
		return nil, false
	}
	moov, ok := codec.ReadAt(r, at, n, size)
	if !ok {
		return nil, false
	}
	var m movie
	return &m, m.read(moov)
}

// findMoov walks the top-level boxes to the end of the file, as ffmpeg
// does on a seekable file, stepping over mdat by its size, and returns
// where moov's payload is.
func findMoov(r io.ReaderAt, size int64) (at, n int64, ok bool) {
	at = -1
	for i, off := 0, int64(0); off < size; i++ {
		typ, hdr, boxSize, ok := boxHeaderAt(r, off, size)
		if !ok || i == maxTopBoxes || (i == 0) != (typ == "ftyp") || !topLevel[typ] {
			return 0, 0, false
		}
		if typ == "ftyp" && boxSize-hdr < 8 { // no major brand and version: ffmpeg fails
			return 0, 0, false
		}
		if typ == "moov" {
			if at >= 0 || boxSize-hdr > maxMoov {
				return 0, 0, false
			}
			at, n = off+hdr, boxSize-hdr
		}
		off += boxSize
	}
	return at, n, at >= 0
}

// tagBox says whether a box of type typ carries tags that ffmpeg reads
// into the file's metadata wherever it finds it: user data, iTunes
// metadata, ID3 and Windows Media tags.
func tagBox(typ string) bool {
	switch typ {
	case "udta", "meta", "ilst", "keys", "ID32", "Xtra":
		return true
	}
	return false
}

// movie is what a moov box says, as far as Probe needs.
type movie struct {
	timescale uint32 // mvhd's: edit lists are in it
	hasMvhd   bool
	audio     int   // audio tracks
	first     track // the first of them
	mp3       bool  // an audio track is MP3
	title     string
}

func (m *movie) read(moov []byte) bool {
	it := boxIter{rest: moov}
	for it.next() {
		ok := true
		switch it.typ {
		case "mvhd":
			ok = !m.hasMvhd && m.readMvhd(it.data)
		case "trak":
			ok = m.addTrack(it.data)
		case "udta":
			ok = m.readUdta(it.data)
		case "meta":
			ok = m.readMeta(it.data)
		case "ilst":
			ok = m.readIlst(it.data)
		case "mvex", "cmov", "rmra", "keys", "ID32", "Xtra":
			// Fragments, a compressed movie, a reference movie; tags.
			ok = false
		}
		if !ok {
			return false
		}
	}
	return !it.bad && m.hasMvhd
}

func (m *movie) readMvhd(b []byte) bool {
	ts, ok := mvhdTimescale(b)
	if !ok {
		return false
	}
	m.timescale, m.hasMvhd = ts, true
	return m.timescale > 0 && m.timescale <= math.MaxInt32
}

func (m *movie) addTrack(b []byte) bool {
	t, ok := readTrak(b)
	if !ok {
		return false
	}
	if t.handler != "soun" {
		return true
	}
	m.audio++
	m.mp3 = m.mp3 || t.codec == "mp3"
	if m.audio == 1 {
		m.first = t
	}
	return true
}

// info is the MediaInfo of the movie. With two audio tracks, one of them
// MP3, it is not sure: which one ffmpeg maps is best left to ffprobe.
func (m *movie) info() (*mp3converter.MediaInfo, bool) {
	if m.audio == 0 || (m.audio > 1 && m.mp3) {
		return nil, false
	}
	d, ok := m.first.seconds(m.timescale)
	if !ok {
		return nil, false
	}
	return &mp3converter.MediaInfo{Format: Format, AudioCodec: m.first.codec, SampleRate: m.first.rate,
		Duration: d, Title: m.title}, true
}

// fourccName names a codec ffprobe would call something else: its
// fourcc, printable, never empty or mp3.
func fourccName(typ string) (string, bool) {
	for _, c := range []byte(typ) {
		if c < 0x20 || c > 0x7e {
			return codec.Other(fmt.Sprintf("0x%x", typ))
		}
	}
	return codec.Other(typ)
}

// rescale is ffmpeg's av_rescale: a*b/c rounded to nearest, halves up.
func rescale(a, b, c uint64) (uint64, bool) {
	hi, lo := bits.Mul64(a, b)
	lo, carry := bits.Add64(lo, c/2, 0)
	hi += carry
	if c == 0 || hi >= c {
		return 0, false
	}
	q, _ := bits.Div64(hi, lo, c)
	return q, q <= math.MaxInt64
}
