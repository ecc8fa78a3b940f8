package ffmpeg

import (
	"io"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/internal/probe"
)

// quickProbe is internal/probe's answer for the media in r, size bytes
// long, its title cleaned as parseProbe cleans ffprobe's. ok false means
// not sure: ask ffprobe.
func quickProbe(r io.ReaderAt, size int64) (*mp3converter.MediaInfo, bool) {
	return cleaned(probe.Probe(r, size))
}

// quickProbeFile is quickProbe on the file at path.
func quickProbeFile(path string) (*mp3converter.MediaInfo, bool) {
	return cleaned(probe.File(path))
}

func cleaned(info *mp3converter.MediaInfo, ok bool) (*mp3converter.MediaInfo, bool) {
	if ok {
		info.Title = CleanTitle(info.Title)
	}
	return info, ok
}
