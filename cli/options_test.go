package cli

import (
	"io"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/mp3converter/mp3converter/internal/cmdflag"
)

// TestOptionFlags: a flag per upload option under the API's name, and
// --sample-rate besides --sample_rate; values checked by the server's
// rules, a bad one a usage error naming the flag.
func TestOptionFlags(t *testing.T) {
	parse := func(args ...string) (url.Values, error) {
		f := cmdflag.New("convert", io.Discard)
		fields := addOptionFlags(f)
		if err := f.ParseWithArgs(args); err != nil {
			return fields, err
		}
		return fields, checkOptions(fields)
	}
	fields, err := parse("--bitrate", "128", "--channels", "mono", "--sample-rate", "44100", "--normalize",
		"--start", "0:30", "--end", "60", "--title", " A talk ", "--channels", "stereo")
	want := url.Values{"bitrate": {"128"}, "channels": {"stereo"}, "sample_rate": {"44100"}, "normalize": {"true"},
		"start": {"0:30"}, "end": {"60"}, "title": {"A talk"}}
	if err != nil || !reflect.DeepEqual(fields, want) {
		t.Errorf("fields %v, %v; want %v", fields, err, want)
	}
	if fields, err := parse("--quality", "v0", "--sample_rate", "48000"); err != nil || fields.Get("quality") != "v0" || fields.Get("sample_rate") != "48000" {
		t.Errorf("quality and sample_rate: %v %v", fields, err)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--bitrate", "100"}, `invalid value "100" for flag -bitrate: must be one of 64, 80, 96, 112, 128, 160, 192, 224, 256, 320 (kbit/s)`},
		{[]string{"--sample-rate", "44"}, `invalid value "44" for flag -sample-rate: must be one of 16000`},
		{[]string{"--channels", "surround"}, `flag -channels: must be mono, stereo, 1 or 2`},
		{[]string{"--quality", "V10"}, `flag -quality: must be V0 (best) to V9`},
		{[]string{"--start", "soon"}, `flag -start: must be seconds (12.5) or HH:MM:SS(.mmm)`},
		{[]string{"--normalize=maybe"}, `"maybe" for -normalize: must be true or false`},
		{[]string{"--title", strings.Repeat("x", 201)}, `flag -title: must be at most 200 characters`},
		{[]string{"--quality", "V2", "--bitrate", "128"}, `convert: invalid options quality and bitrate: give one, not both`},
		{[]string{"--start", "60", "--end", "30"}, `convert: invalid option end 30: it must be after start 60`},
	} {
		_, err := parse(tt.args...)
		if !cmdflag.IsUsage(err) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: %v, want a usage error with %q", tt.args, err, tt.want)
		}
	}
	var help strings.Builder
	f := cmdflag.New("convert", &help)
	addOptionFlags(f)
	f.Usage()
	for _, want := range []string{"-bitrate kbit/s\n", "-sample_rate Hz\n", "-sample-rate Hz\n    \tthe same as --sample_rate", "-normalize\n", "-quality Vn\n"} {
		if !strings.Contains(help.String(), want) {
			t.Errorf("-h lacks %q:\n%s", want, help.String())
		}
	}
}
