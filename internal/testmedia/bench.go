package testmedia

import (
	"cmp"
	"os"
)

// BenchFFmpeg is the ffmpeg a benchmark's converter runs:
// $MP3CONVERTER_BENCH_FFMPEG (the image's minimal static build, say), else
// "ffmpeg" on the PATH. Test media are always made with the latter.
func BenchFFmpeg() string { return cmp.Or(os.Getenv("MP3CONVERTER_BENCH_FFMPEG"), "ffmpeg") }

// BenchCLI is the ffmpeg of the bare command line a benchmark compares
// the converter with: $MP3CONVERTER_BENCH_CLI, else BenchFFmpeg, the same
// binary on both sides.
func BenchCLI() string { return cmp.Or(os.Getenv("MP3CONVERTER_BENCH_CLI"), BenchFFmpeg()) }
