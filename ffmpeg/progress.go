package ffmpeg

import (
	"bufio"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// ffmpeg's -progress output, and the fraction done it gives.

// progressMeter turns output times into fractions done; see ToMP3.
type progressMeter struct {
	probed float64       // seconds, as probed; 0 if unknown
	limit  time.Duration // 0 for none
	report func(float64) // nil: nothing reported
}

// Fraction is the fraction done after t seconds of output, in [0, 1].
func (m progressMeter) Fraction(t float64) float64 {
	switch {
	case t <= 0:
		return 0
	case m.probed > 0 && (t <= m.probed || DurationsMatch(m.probed, t)):
		return min(t/m.probed, 1)
	case m.limit > 0:
		return min(t/m.limit.Seconds(), 1)
	case m.probed > 0:
		return t / (t + m.probed)
	}
	return 0 // no idea of the length
}

// tell reports the fraction done after t seconds of output, if m reports.
func (m progressMeter) tell(t float64) {
	if m.report != nil {
		m.report(m.Fraction(t))
	}
}

// readProgress reads ffmpeg's -progress output until EOF, telling seen
// each output time, and returns the last output time, the seconds decoded,
// and whether the report ended (progress=end): ffmpeg writes that block
// once the output is complete, so its time is the output's length.
func readProgress(r io.Reader, seen func(t float64)) (last float64, ended bool) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "progress=end" {
			ended = true
		}
		t, ok := ParseProgress(sc.Text())
		if !ok {
			continue
		}
		last = max(last, t)
		seen(t)
	}
	io.Copy(io.Discard, r)
	return last, ended
}

// ParseProgress reads one line of ffmpeg's -progress output and returns the
// output time in seconds when the line carries it.
func ParseProgress(line string) (float64, bool) {
	key, val, ok := strings.Cut(strings.TrimSpace(line), "=")
	if !ok {
		return 0, false
	}
	switch key {
	case "out_time_us", "out_time_ms": // both are microseconds
		us, err := strconv.ParseInt(val, 10, 64)
		if err != nil || us < 0 {
			return 0, false
		}
		return float64(us) / 1e6, true
	case "out_time":
		return parseClock(val)
	}
	return 0, false
}

// parseClock parses HH:MM:SS.ffffff.
func parseClock(s string) (float64, bool) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 || strings.HasPrefix(s, "-") {
		return 0, false
	}
	h, err1 := strconv.Atoi(parts[0])
	m, err2 := strconv.Atoi(parts[1])
	sec, err3 := strconv.ParseFloat(parts[2], 64)
	if err1 != nil || err2 != nil || err3 != nil || h < 0 || m < 0 || sec < 0 || math.IsNaN(sec) || math.IsInf(sec, 0) {
		return 0, false
	}
	return float64(h)*3600 + float64(m)*60 + sec, true
}
