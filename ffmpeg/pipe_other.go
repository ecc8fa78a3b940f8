//go:build !linux

package ffmpeg

// growPipe does nothing here: see pipe_linux.go.
func growPipe(any) {}
