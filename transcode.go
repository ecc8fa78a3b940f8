package mp3converter

import (
	"context"
	"time"
)

// MediaInfo is what probing a media file tells.
type MediaInfo struct {
	Format     string // container, e.g. "matroska,webm"
	AudioCodec string // codec of the first audio stream; "" if there is none
	// Duration is the seconds of the first audio stream, or of the file. It
	// is an estimate, not a promise: for a raw stream (ADTS AAC, MP3 without
	// a header) ffprobe divides the size by the first frames' bitrate, so a
	// loud start followed by cheap silence probes far shorter than it plays.
	Duration float64
	Title    string // the file's title tag, cleaned; "" if it has none
	// SampleRate is the first audio stream's, in Hz; 0 if unknown.
	SampleRate int
}

// TranscodeOptions bound and label one conversion.
type TranscodeOptions struct {
	// MaxDuration is the most audio decoded: a source that plays longer,
	// whatever its probe said, fails with an EINVALID error saying it is
	// longer than the limit. 0 for no limit.
	MaxDuration time.Duration
	// Title is the MP3's one tag; no other tag of the source is copied.
	Title string
	// Audio are the uploader's options (its Title is ignored: see Title).
	// Any of them but the title re-encodes an MP3 source; a cut makes the
	// output as long as the cut, and the source must hold it.
	Audio Options
	// Progress, if set, is called with the fraction done (0..1) as the
	// conversion goes; see the Transcoder for how it treats a probe that
	// proves too short.
	Progress func(float64)
	// Cores, if set, lends the conversion CPU cores beyond the one it runs
	// on: each call asks for one more and returns the function that gives
	// it back, or false when none is free, or work waits for one. A
	// Transcoder may then encode a long file on several cores, and give a
	// core back from one goroutine while it asks for another from another:
	// Cores and the release functions must be safe for concurrent use.
	// nil: one.
	Cores func() (release func(), ok bool)
}

// TranscodeResult describes an MP3 that a Transcoder wrote.
type TranscodeResult struct {
	Duration float64 // seconds, measured on the output
	Copied   bool    // the audio was already MP3 and was copied, not re-encoded
	Segments int     // segments of a long file encoded at once; 0: in one pass
}

// Transcoder extracts audio as MP3. It works on files, never pipes: an MP4
// whose index is at its end cannot be read from a pipe.
type Transcoder interface {
	// Probe inspects the file at path. A file that is not readable media
	// gives a Permanent EINVALID error.
	Probe(ctx context.Context, path string) (*MediaInfo, error)
	// ToMP3 writes the first audio stream of src to dst as MP3, within
	// opts' limits, and checks the result. A source without audio, or
	// longer than opts.MaxDuration, gives a Permanent EINVALID error; a
	// cancelled ctx gives ctx's error.
	ToMP3(ctx context.Context, src, dst string, info *MediaInfo, opts TranscodeOptions) (*TranscodeResult, error)
}

// A Conversion is one of a BatchTranscoder's: ToMP3's arguments.
type Conversion struct {
	Src, Dst string
	Info     *MediaInfo
	Opts     TranscodeOptions
}

// A BatchTranscoder converts several files in one run of its tool, which
// then pays its start-up once: for short files much of a conversion's CPU.
type BatchTranscoder interface {
	Transcoder
	// Batchable says whether a conversion may share a run: it is short,
	// and would be encoded in one pass.
	Batchable(info *MediaInfo, opts TranscodeOptions) bool
	// ToMP3s converts each of cs as ToMP3 would, each Progress told of its
	// own; errs[i] is cs[i]'s error, which is ToMP3's for the same file.
	// The run ends with ctx, and cs' Cores are not used.
	ToMP3s(ctx context.Context, cs []Conversion) (results []*TranscodeResult, errs []error)
}
