package cli

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/internal/cmdflag"
)

// optionHelp is what -h says of each upload option: one per
// mp3converter.OptionNames (addOptionFlags panics without one, which
// TestOptionFlags catches). typ names the value, as "-bitrate kbit/s".
var optionHelp = map[string]struct{ typ, usage string }{
	"quality":     {"Vn", "LAME VBR quality, V0 (best) to V9; not with --bitrate (default V2, about 190 kbit/s)"},
	"bitrate":     {"kbit/s", "constant bitrate, " + list(mp3converter.MP3Bitrates) + "; not with --quality (default VBR)"},
	"channels":    {"mono|stereo", "mono or stereo, or 1 or 2 (default the source's)"},
	"sample_rate": {"Hz", "sample rate, " + list(mp3converter.MP3SampleRates) + " (default the source's)"},
	"start":       {"time", "cut: where the MP3 starts, in seconds (12.5) or HH:MM:SS(.mmm)"},
	"end":         {"time", "cut: where the MP3 ends, after --start (default the end)"},
	"normalize":   {"", "loudness to -16 LUFS (EBU R128, one pass)"},
	"title":       {"string", "the MP3's title tag (default the source's title tag, else the file's name)"},
}

func list(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ", ")
}

// addOptionFlags registers a flag for each upload option, named as the
// API's form field (--quality, --bitrate, --channels, --sample_rate,
// --start, --end, --normalize, --title), and a dashed alias for a name
// with an underscore (--sample-rate). It returns the form fields the
// flags set, for client.Upload. Each value is checked as it is set, by
// the server's own rules (mp3converter.Options.SetOption): a bad one is
// a usage error naming the flag.
func addOptionFlags(f *cmdflag.Flags) url.Values {
	fields := url.Values{}
	for _, name := range mp3converter.OptionNames {
		h, ok := optionHelp[name]
		if !ok {
			panic("cli: no help for the upload option " + name)
		}
		v := &optionValue{name: name, typ: h.typ, fields: fields}
		f.Var(v, name, h.usage)
		if dashed := strings.ReplaceAll(name, "_", "-"); dashed != name {
			f.Var(v, dashed, "the same as --"+name)
		}
	}
	return fields
}

// checkOptions checks the options together, as the server does
// (mp3converter.Options.Validate): --quality with --bitrate, or an --end
// not after --start, is a usage error.
func checkOptions(fields url.Values) error {
	var o mp3converter.Options
	for name := range fields {
		if _, err := o.SetOption(name, fields.Get(name)); err != nil {
			return cmdflag.UsageError{Err: err}
		}
	}
	if err := o.Validate(); err != nil {
		return cmdflag.Usagef("convert: %s", mp3converter.ErrorMessage(err))
	}
	return nil
}

// optionValue is the flag of one upload option; its value is the form
// field's, as given.
type optionValue struct {
	name, typ string
	fields    url.Values
}

func (v *optionValue) Set(s string) error {
	var o mp3converter.Options
	if _, err := o.SetOption(v.name, s); err != nil {
		// The flag package names the flag and the value already.
		prefix := fmt.Sprintf("invalid option %s %q: ", v.name, strings.TrimSpace(s))
		return errors.New(strings.TrimPrefix(mp3converter.ErrorMessage(err), prefix))
	}
	if s = strings.TrimSpace(s); s == "" {
		v.fields.Del(v.name) // the default
	} else {
		v.fields.Set(v.name, s)
	}
	return nil
}

func (v *optionValue) String() string {
	if v == nil || v.fields == nil {
		return ""
	}
	return v.fields.Get(v.name)
}

func (v *optionValue) Type() string { return v.typ }

// IsBoolFlag lets --normalize stand alone.
func (v *optionValue) IsBoolFlag() bool { return v.name == "normalize" }
