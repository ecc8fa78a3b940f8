package mkv

import (
	"strings"

	"github.com/mp3converter/mp3converter/internal/probe/codec"
)

// mkvTrack is what Probe needs of a TrackEntry.
type mkvTrack struct {
	typ           uint64 // 1 video, 2 audio, ...
	codecID       string
	private       []byte
	encoded       bool    // ContentEncodings: CodecPrivate may be compressed
	rate, outRate float64 // SamplingFrequency (8000 if absent), OutputSamplingFrequency
	number        uint64  // TrackNumber, as blocks name it
	codecDelay    uint64  // CodecDelay, in nanoseconds
	entry         []byte  // the TrackEntry's data
}

func readTrackEntry(b []byte) (mkvTrack, bool) {
	t := mkvTrack{rate: 8000, entry: b}
	it := ebmlIter{rest: b}
	for it.next() {
		ok := true
		switch it.id {
		case idTrackNumber:
			t.number, ok = ebmlUint(it.data)
		case idCodecDelay:
			t.codecDelay, ok = ebmlUint(it.data)
		case idTrackType:
			t.typ, ok = ebmlUint(it.data)
		case idCodecID:
			t.codecID = codec.CString(it.data)
		case idCodecPrivate:
			t.private = it.data
		case idContentEncodings:
			t.encoded = true
		case idAudio:
			in := ebmlIter{rest: it.data}
			for ok && in.next() {
				switch in.id {
				case idSamplingFrequency:
					t.rate, ok = ebmlFloat(in.data)
				case idOutputSamplingFrequency:
					t.outRate, ok = ebmlFloat(in.data)
				}
			}
			ok = ok && !in.bad
		}
		if !ok {
			return t, false
		}
	}
	return t, !it.bad
}

// codec names an audio track's codec as ffprobe does (ffmpeg matches
// CodecID prefixes), with the rate its decoder reports: the codec's own
// configuration's where there is one, else the track's.
func (t *mkvTrack) codec() (string, int, bool) {
	id := t.codecID
	switch {
	case strings.HasPrefix(id, "A_AAC"):
		if t.encoded {
			return "", 0, false
		}
		rate, ok := codec.AACRate(t.private)
		return "aac", rate, ok
	case strings.HasPrefix(id, "A_OPUS"):
		return "opus", 48000, true
	case strings.HasPrefix(id, "A_VORBIS"):
		rate, ok := codec.VorbisRate(t.private)
		return "vorbis", rate, ok && !t.encoded
	case strings.HasPrefix(id, "A_FLAC"):
		if t.encoded || len(t.private) < 4 || string(t.private[:4]) != "fLaC" {
			return "", 0, false
		}
		rate, ok := codec.FLACRate(t.private[4:])
		return "flac", rate, ok
	case strings.HasPrefix(id, "A_MS/ACM"), strings.HasPrefix(id, "A_QUICKTIME"), strings.HasPrefix(id, "A_MPEG/"):
		// The codec is named inside CodecPrivate, and may be MP3; or, for
		// MPEG audio, ffmpeg parses the frames and names the layer they
		// have: A_MPEG/L3 holding Layer II probes as mp2.
		return "", 0, false
	}
	// The rate ffmpeg gives the stream, which the decoder keeps.
	rate := t.rate
	if t.outRate != 0 {
		rate = t.outRate
	}
	if !codec.ValidRate(rate) {
		return "", 0, false
	}
	for _, c := range mkvCodecs {
		if strings.HasPrefix(id, c.id) {
			return c.name, int(rate), true
		}
	}
	name, ok := codec.Other(strings.ToLower(id))
	return name, int(rate), ok
}

// mkvCodecs names a few more codecs as ffprobe does; others go by their
// CodecID.
var mkvCodecs = []struct{ id, name string }{
	{"A_AC3", "ac3"}, {"A_EAC3", "eac3"},
	{"A_DTS", "dts"}, {"A_TRUEHD", "truehd"}, {"A_ALAC", "alac"},
}
