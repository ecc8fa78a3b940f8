package ffmpeg

import (
	"slices"
	"strconv"
	"strings"

	"github.com/mp3converter/mp3converter"
)

// loudnorm is EBU R128 loudness normalisation in one pass, to -16 LUFS.
const loudnorm = "loudnorm=I=-16:TP=-1.5:LRA=11"

// lameRates are the sample rates libmp3lame encodes, in its own order.
var lameRates = []int{44100, 48000, 32000, 22050, 24000, 16000, 11025, 12000, 8000}

// encodeArgs returns the output arguments that encode audio with LAME: VBR
// at quality unless o asks for another quality or a constant bitrate, and
// o's channels, sample rate and normalisation.
func encodeArgs(info *mp3converter.MediaInfo, quality int, o mp3converter.Options) []string {
	return append(codecArgs(quality, o), shapeArgs(info, o, false)...)
}

// codecArgs returns the arguments that choose LAME and its quality or bitrate.
func codecArgs(quality int, o mp3converter.Options) []string {
	args := []string{"-c:a", "libmp3lame"}
	if o.Bitrate > 0 {
		return append(args, "-b:a", strconv.Itoa(o.Bitrate)+"k")
	}
	if q, ok := o.QualityLevel(); ok {
		quality = q
	}
	return append(args, "-q:a", strconv.Itoa(quality))
}

// shapeArgs returns the arguments that set o's channels, sample rate and
// normalisation. loudnorm works at 192 kHz, so a normalised output keeps
// the source's rate unless o sets one. With lame, an output that is not
// LAME is held to the layouts and rates LAME takes, by the aformat filter
// that ffmpeg puts in front of LAME itself, so that the same audio comes
// out.
func shapeArgs(info *mp3converter.MediaInfo, o mp3converter.Options, lame bool) []string {
	var args, filters []string
	if o.Channels > 0 {
		args = append(args, "-ac", strconv.Itoa(o.Channels))
	}
	rate := o.SampleRate
	if o.Normalize {
		filters = append(filters, loudnorm)
		if rate == 0 && slices.Contains(lameRates, info.SampleRate) {
			rate = info.SampleRate
		}
	}
	if lame && (o.Channels == 0 || rate == 0) {
		var f []string
		if o.Channels == 0 {
			f = append(f, "channel_layouts=mono|stereo")
		}
		if rate == 0 {
			var rates []string
			for _, r := range lameRates {
				rates = append(rates, strconv.Itoa(r))
			}
			f = append(f, "sample_rates="+strings.Join(rates, "|"))
		}
		filters = append(filters, "aformat="+strings.Join(f, ":"))
	}
	if len(filters) > 0 {
		args = append(args, "-af", strings.Join(filters, ","))
	}
	if rate > 0 {
		args = append(args, "-ar", strconv.Itoa(rate))
	}
	return args
}

// inputSeek returns the input arguments that start reading at o's cut.
// Decoding from there is sample-accurate (ffmpeg's -accurate_seek).
func inputSeek(o mp3converter.Options) []string {
	if o.Start <= 0 {
		return nil
	}
	return []string{"-ss", strconv.FormatFloat(o.Start, 'f', -1, 64)}
}

// lengthArgs returns the output arguments that bound the output: to the
// cut's length, and to a limit plus limitSlack of audio and sizeCap bytes.
func lengthArgs(o mp3converter.TranscodeOptions) []string {
	args := timeArgs(o)
	if o.MaxDuration > 0 {
		args = append(args, "-fs", strconv.FormatInt(sizeCap(o.MaxDuration), 10))
	}
	return args
}

// timeArgs returns the -t of lengthArgs: outputLength; none for none.
func timeArgs(o mp3converter.TranscodeOptions) []string {
	if t := outputLength(o); t > 0 {
		return []string{"-t", strconv.FormatFloat(t, 'f', -1, 64)}
	}
	return nil
}

// outputLength is the most seconds of output: the cut's length, or the
// limit plus limitSlack, whichever is shorter; 0 for neither.
func outputLength(o mp3converter.TranscodeOptions) float64 {
	var t float64
	if o.MaxDuration > 0 {
		t = (o.MaxDuration + limitSlack).Seconds()
	}
	if cut := o.Audio.End - o.Audio.Start; o.Audio.End > 0 && (t == 0 || cut < t) {
		t = cut
	}
	return t
}

// expected is what info says of the output of a conversion with o: as
// long as the cut, when there is one.
func expected(info *mp3converter.MediaInfo, o mp3converter.Options) *mp3converter.MediaInfo {
	if o.Start == 0 && o.End == 0 {
		return info
	}
	e := *info
	e.Duration = o.CutLength(info.Duration)
	return &e
}

// copies says whether the conversion copies the source's audio as it is:
// MP3 already, and no option changes it.
func copies(info *mp3converter.MediaInfo, o mp3converter.Options) bool {
	return info.AudioCodec == "mp3" && !o.Reencodes()
}
