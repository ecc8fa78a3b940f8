package mp3converter

import "context"

// MediaInfo is what probing a media file tells.
type MediaInfo struct {
	Format     string  // container, e.g. "matroska,webm"
	AudioCodec string  // codec of the first audio stream; "" if there is none
	Duration   float64 // seconds of the first audio stream, or of the file
}

// ConvertResult describes an MP3 that a Transcoder wrote.
type ConvertResult struct {
	Duration float64 // seconds, measured on the output
	Copied   bool    // the audio was already MP3 and was copied, not re-encoded
}

// Transcoder extracts audio as MP3. It works on files, never pipes: an MP4
// whose index is at its end cannot be read from a pipe.
type Transcoder interface {
	// Probe inspects the file at path. A file that is not readable media
	// gives a Permanent EINVALID error.
	Probe(ctx context.Context, path string) (*MediaInfo, error)
	// ToMP3 writes the first audio stream of src to dst as MP3, calling
	// progress with the fraction done (0..1) as it goes, and checks the
	// result. A source without audio gives a Permanent EINVALID error.
	ToMP3(ctx context.Context, src, dst string, info *MediaInfo, progress func(float64)) (*ConvertResult, error)
}
