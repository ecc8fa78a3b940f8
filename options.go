package mp3converter

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Options are how an uploader asked for a job's MP3 to be made. The zero
// value is the default: LAME VBR at the converter's quality, the source's
// channels and sample rate, the whole file, no normalisation, and the
// source's title tag or else its name. A job records the options it ran
// with; a seed gateway's job has none, so it gets the defaults.
type Options struct {
	// Quality is LAME's VBR quality, "V0" (best) to "V9"; "" for the default.
	Quality string `json:"quality,omitempty"`
	// Bitrate is a constant bitrate in kbit/s (one of MP3Bitrates); 0 for VBR.
	Bitrate int `json:"bitrate,omitempty"`
	// Channels is 1 (mono) or 2 (stereo); 0 keeps the source's.
	Channels int `json:"channels,omitempty"`
	// SampleRate is in Hz (one of MP3SampleRates); 0 keeps the source's.
	SampleRate int `json:"sample_rate,omitempty"`
	// Start and End cut the audio, in seconds; End 0 means the end.
	Start float64 `json:"start,omitempty"`
	End   float64 `json:"end,omitempty"`
	// Normalize sets the loudness to -16 LUFS (EBU R128, one pass).
	Normalize bool `json:"normalize,omitempty"`
	// Title is the MP3's title tag, instead of the source's or its name.
	Title string `json:"title,omitempty"`
}

// MP3Bitrates are the constant bitrates, in kbit/s, an upload may ask for.
var MP3Bitrates = []int{64, 80, 96, 112, 128, 160, 192, 224, 256, 320}

// MP3SampleRates are the sample rates, in Hz, an upload may ask for.
var MP3SampleRates = []int{16000, 22050, 24000, 32000, 44100, 48000}

// OptionNames are the upload form fields that set Options.
var OptionNames = []string{"quality", "bitrate", "channels", "sample_rate", "start", "end", "normalize", "title"}

// maxOptionTitle is the most characters a title option may have.
const maxOptionTitle = 200

// SetOption parses the form field name with value into o. An empty value
// leaves the default. It returns an EINVALID error naming the field for a
// bad value, and ok false for a name that is not an option.
func (o *Options) SetOption(name, value string) (ok bool, err error) {
	value = strings.TrimSpace(value)
	if !slices.Contains(OptionNames, name) {
		return false, nil
	}
	if value == "" {
		return true, nil
	}
	bad := func(want string) error {
		return Errorf(EINVALID, "invalid option %s %q: %s", name, value, want)
	}
	switch name {
	case "quality":
		q := strings.ToUpper(value)
		if len(q) != 2 || q[0] != 'V' || q[1] < '0' || q[1] > '9' {
			return true, bad("must be V0 (best) to V9")
		}
		o.Quality = q
	case "bitrate":
		n, err := strconv.Atoi(strings.TrimSuffix(strings.ToLower(value), "k"))
		if err != nil || !slices.Contains(MP3Bitrates, n) {
			return true, bad("must be one of 64, 80, 96, 112, 128, 160, 192, 224, 256, 320 (kbit/s)")
		}
		o.Bitrate = n
	case "channels":
		switch strings.ToLower(value) {
		case "mono", "1":
			o.Channels = 1
		case "stereo", "2":
			o.Channels = 2
		default:
			return true, bad("must be mono, stereo, 1 or 2")
		}
	case "sample_rate":
		n, err := strconv.Atoi(value)
		if err != nil || !slices.Contains(MP3SampleRates, n) {
			return true, bad("must be one of 16000, 22050, 24000, 32000, 44100, 48000")
		}
		o.SampleRate = n
	case "start", "end":
		s, err := ParseTimestamp(value)
		if err != nil {
			return true, bad("must be seconds (12.5) or HH:MM:SS(.mmm)")
		}
		if name == "start" {
			o.Start = s
		} else {
			o.End = s
		}
	case "normalize":
		b, err := strconv.ParseBool(value)
		if err != nil {
			return true, bad("must be true or false")
		}
		o.Normalize = b
	case "title":
		t := strings.Join(strings.Fields(strings.Map(func(r rune) rune {
			if unicode.IsControl(r) || r == utf8.RuneError {
				return ' '
			}
			return r
		}, value)), " ")
		if utf8.RuneCountInString(t) > maxOptionTitle {
			return true, bad(fmt.Sprintf("must be at most %d characters", maxOptionTitle))
		}
		o.Title = t
	}
	return true, nil
}

// Validate checks the options together: quality and bitrate exclude each
// other, and a cut must end after it starts. Its errors are EINVALID and
// name the option.
func (o Options) Validate() error {
	switch {
	case o.Quality != "" && o.Bitrate != 0:
		return Errorf(EINVALID, "invalid options quality and bitrate: give one, not both")
	case o.End != 0 && o.End <= o.Start:
		return Errorf(EINVALID, "invalid option end %s: it must be after start %s", formatSeconds(o.End), formatSeconds(o.Start))
	}
	return nil
}

// Reencodes says whether the options change the audio, so that an MP3
// source cannot be copied as it is. A title alone does not.
func (o Options) Reencodes() bool {
	o.Title = ""
	return o != (Options{})
}

// QualityLevel is LAME's -q:a for Quality, and false if Quality is unset.
func (o Options) QualityLevel() (int, bool) {
	if len(o.Quality) != 2 {
		return 0, false
	}
	return int(o.Quality[1] - '0'), true
}

// CutLength is the seconds of audio the options keep of a source lasting
// duration seconds (0 if unknown: the result is then 0 unless End is set).
func (o Options) CutLength(duration float64) float64 {
	end := o.End
	if end == 0 {
		end = duration
	}
	return max(0, end-o.Start)
}

// CheckCut returns a Permanent EINVALID error if the cut does not lie
// within a source that lasts duration seconds (unknown if 0).
func (o Options) CheckCut(duration float64) error {
	if duration <= 0 {
		return nil
	}
	switch {
	case o.Start >= duration:
		return Permanent(Errorf(EINVALID, "the cut starts at %s s, but the media lasts %s s", formatSeconds(o.Start), formatSeconds(duration)))
	case o.End > duration:
		return Permanent(Errorf(EINVALID, "the cut ends at %s s, but the media lasts %s s", formatSeconds(o.End), formatSeconds(duration)))
	}
	return nil
}

// ParseTimestamp parses seconds ("12", "12.5") or [HH:]MM:SS(.mmm) into
// seconds. Negative, infinite or malformed values are errors.
func ParseTimestamp(s string) (float64, error) {
	parts := strings.Split(s, ":")
	if len(parts) > 3 {
		return 0, fmt.Errorf("malformed time %q", s)
	}
	var total float64
	for i, p := range parts {
		last := i == len(parts)-1
		if p == "" || strings.ContainsAny(p, "+-eExXpP_") || !last && strings.Contains(p, ".") {
			return 0, fmt.Errorf("malformed time %q", s)
		}
		v, err := strconv.ParseFloat(p, 64)
		if err != nil || math.IsInf(v, 0) || math.IsNaN(v) || i > 0 && v >= 60 {
			return 0, fmt.Errorf("malformed time %q", s)
		}
		total = total*60 + v
	}
	if total > 1e7 {
		return 0, fmt.Errorf("time %q too large", s)
	}
	return total, nil
}

func formatSeconds(s float64) string { return strconv.FormatFloat(s, 'f', -1, 64) }
