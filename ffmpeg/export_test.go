package ffmpeg

import "time"

// Names for the external tests and FuzzParseProbe.
var (
	ParseProbe = parseProbe
	Args       = mp3Args
	SizeCap    = sizeCap
)

// Fraction is the progress reported after t seconds of output of a source
// probed at probed seconds, converted with limit.
func Fraction(probed float64, limit time.Duration, t float64) float64 {
	return progressMeter{probed: probed, limit: limit}.Fraction(t)
}
