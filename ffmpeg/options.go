package ffmpeg

import (
	"slices"
	"strconv"

	"github.com/mp3converter/mp3converter"
)

// loudnorm is EBU R128 loudness normalisation in one pass, to -16 LUFS.
const loudnorm = "loudnorm=I=-16:TP=-1.5:LRA=11"

// lameRates are the sample rates libmp3lame encodes.
var lameRates = []int{8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000}

// encodeArgs returns the output arguments that encode audio with LAME: VBR
// at quality unless o asks for another quality or a constant bitrate, and
// o's channels, sample rate and normalisation. loudnorm works at 192 kHz,
// so a normalised output keeps the source's rate unless o sets one.
func encodeArgs(info *mp3converter.MediaInfo, quality int, o mp3converter.Options) []string {
	args := []string{"-c:a", "libmp3lame"}
	if o.Bitrate > 0 {
		args = append(args, "-b:a", strconv.Itoa(o.Bitrate)+"k")
	} else {
		if q, ok := o.QualityLevel(); ok {
			quality = q
		}
		args = append(args, "-q:a", strconv.Itoa(quality))
	}
	if o.Channels > 0 {
		args = append(args, "-ac", strconv.Itoa(o.Channels))
	}
	rate := o.SampleRate
	if o.Normalize {
		args = append(args, "-af", loudnorm)
		if rate == 0 && slices.Contains(lameRates, info.SampleRate) {
			rate = info.SampleRate
		}
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
func lengthArgs(o mp3converter.ConvertOptions) []string {
	var t string
	var args []string
	if o.MaxDuration > 0 {
		t = seconds(o.MaxDuration + limitSlack)
		args = []string{"-fs", strconv.FormatInt(sizeCap(o.MaxDuration), 10)}
	}
	if cut := o.Audio.End - o.Audio.Start; o.Audio.End > 0 && (t == "" || cut < (o.MaxDuration+limitSlack).Seconds()) {
		t = strconv.FormatFloat(cut, 'f', -1, 64)
	}
	if t == "" {
		return args
	}
	return append([]string{"-t", t}, args...)
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
