package ffmpeg

// Names for the external tests and FuzzParseProbe.
var (
	ParseProbe = parseProbe
	Args       = mp3Args
)
