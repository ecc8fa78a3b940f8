package mp3converter_test

import (
	"strings"
	"testing"

	"github.com/mp3converter/mp3converter"
)

func TestSetOption(t *testing.T) {
	for _, tc := range []struct {
		name, value string
		want        mp3converter.Options
		err         string // "" for none; else a part of the message
	}{
		{"quality", "V0", mp3converter.Options{Quality: "V0"}, ""},
		{"quality", "v9", mp3converter.Options{Quality: "V9"}, ""},
		{"quality", "", mp3converter.Options{}, ""},
		{"quality", "V10", mp3converter.Options{}, "invalid option quality"},
		{"quality", "2", mp3converter.Options{}, "invalid option quality"},
		{"bitrate", "128", mp3converter.Options{Bitrate: 128}, ""},
		{"bitrate", "320k", mp3converter.Options{Bitrate: 320}, ""},
		{"bitrate", "100", mp3converter.Options{}, "invalid option bitrate"},
		{"bitrate", "32", mp3converter.Options{}, "invalid option bitrate"},
		{"channels", "mono", mp3converter.Options{Channels: 1}, ""},
		{"channels", "Stereo", mp3converter.Options{Channels: 2}, ""},
		{"channels", "1", mp3converter.Options{Channels: 1}, ""},
		{"channels", "2", mp3converter.Options{Channels: 2}, ""},
		{"channels", "3", mp3converter.Options{}, "invalid option channels"},
		{"sample_rate", "44100", mp3converter.Options{SampleRate: 44100}, ""},
		{"sample_rate", "16000", mp3converter.Options{SampleRate: 16000}, ""},
		{"sample_rate", "44000", mp3converter.Options{}, "invalid option sample_rate"},
		{"sample_rate", "96000", mp3converter.Options{}, "invalid option sample_rate"},
		{"start", "12.5", mp3converter.Options{Start: 12.5}, ""},
		{"start", "01:02:03.250", mp3converter.Options{Start: 3723.25}, ""},
		{"start", "2:03", mp3converter.Options{Start: 123}, ""},
		{"start", "-1", mp3converter.Options{}, "invalid option start"},
		{"start", "1e3", mp3converter.Options{}, "invalid option start"},
		{"start", "inf", mp3converter.Options{}, "invalid option start"},
		{"start", "NaN", mp3converter.Options{}, "invalid option start"},
		{"start", "00:61:00", mp3converter.Options{}, "invalid option start"},
		{"start", "1.5:00", mp3converter.Options{}, "invalid option start"},
		{"end", "0:00:04.25", mp3converter.Options{End: 4.25}, ""},
		{"end", "abc", mp3converter.Options{}, "invalid option end"},
		{"normalize", "true", mp3converter.Options{Normalize: true}, ""},
		{"normalize", "false", mp3converter.Options{}, ""},
		{"normalize", "yes please", mp3converter.Options{}, "invalid option normalize"},
		{"title", "  My \x00 Song\n ", mp3converter.Options{Title: "My Song"}, ""},
		{"title", strings.Repeat("é", 201), mp3converter.Options{}, "invalid option title"},
	} {
		var o mp3converter.Options
		ok, err := o.SetOption(tc.name, tc.value)
		if !ok {
			t.Errorf("%s is not an option", tc.name)
		}
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s=%q: %v", tc.name, tc.value, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err) || mp3converter.ErrorCode(err) != mp3converter.EINVALID):
			t.Errorf("%s=%q: error %v, want EINVALID %q", tc.name, tc.value, err, tc.err)
		case err == nil && o != tc.want:
			t.Errorf("%s=%q: %+v, want %+v", tc.name, tc.value, o, tc.want)
		}
	}
	var o mp3converter.Options
	if ok, err := o.SetOption("file", "x"); ok || err != nil {
		t.Errorf("file is an option: %v %v", ok, err)
	}
}

func TestOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		o   mp3converter.Options
		err string
	}{
		{mp3converter.Options{}, ""},
		{mp3converter.Options{Quality: "V0", Channels: 1}, ""},
		{mp3converter.Options{Quality: "V0", Bitrate: 128}, "quality and bitrate"},
		{mp3converter.Options{Start: 5, End: 2}, "invalid option end"},
		{mp3converter.Options{Start: 5, End: 5}, "invalid option end"},
		{mp3converter.Options{Start: 5}, ""},
		{mp3converter.Options{Start: 1, End: 2}, ""},
	} {
		err := tc.o.Validate()
		if (tc.err == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%+v: %v, want %q", tc.o, err, tc.err)
		}
	}
}

func TestOptionsCut(t *testing.T) {
	o := mp3converter.Options{Start: 2, End: 5}
	if got := o.CutLength(60); got != 3 {
		t.Errorf("CutLength = %v", got)
	}
	if got := (mp3converter.Options{Start: 2}).CutLength(60); got != 58 {
		t.Errorf("CutLength to the end = %v", got)
	}
	if err := o.CheckCut(60); err != nil {
		t.Error(err)
	}
	if err := o.CheckCut(0); err != nil {
		t.Errorf("unknown duration: %v", err)
	}
	for _, d := range []float64{4, 2, 1} {
		if err := o.CheckCut(d); err == nil || !mp3converter.IsPermanent(err) {
			t.Errorf("cut 2-5 of %v s: %v", d, err)
		}
	}
	if (mp3converter.Options{Title: "x"}).Reencodes() || !(mp3converter.Options{Normalize: true}).Reencodes() {
		t.Error("Reencodes")
	}
}
