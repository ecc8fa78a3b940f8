package ffmpeg

import (
	"time"

	"github.com/mp3converter/mp3converter/internal/mp3frame"
	"github.com/mp3converter/mp3converter/internal/parallel"
	"github.com/mp3converter/mp3converter/internal/probe"
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
var SampleExact = probe.SampleExact

// ForceFFprobe makes c's Probe always run ffprobe.
func ForceFFprobe(c *Transcoder) { c.noQuickProbe = true }

// ParallelStats describe a parallel encode.
type ParallelStats = parallel.Stats

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
type Tag = mp3frame.Tag

// ReadTag reads the tag of the MP3 b and counts its frames.
var ReadTag = mp3frame.ReadTag
