package testmedia

import (
	"cmp"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchFFmpeg is the ffmpeg a benchmark's converter runs:
// $MP3CONVERTER_BENCH_FFMPEG (the image's minimal static build, say), else
// "ffmpeg" on the PATH. Test media are always made with the latter.
func BenchFFmpeg() string { return cmp.Or(os.Getenv("MP3CONVERTER_BENCH_FFMPEG"), "ffmpeg") }

// BenchCLI is the ffmpeg of the bare command line a benchmark compares
// the converter with: $MP3CONVERTER_BENCH_CLI, else BenchFFmpeg, the same
// binary on both sides.
func BenchCLI() string { return cmp.Or(os.Getenv("MP3CONVERTER_BENCH_CLI"), BenchFFmpeg()) }

// RunCLI runs the bare command line a benchmark compares a job with:
// BenchCLI's ffmpeg converting src's audio to dst as a job does by default
// (LAME VBR quality 2), or copying it if copied. Input options, such as a
// seek, go before -i.
func RunCLI(src, dst string, copied bool, input ...string) error {
	codec := []string{"-c:a", "libmp3lame", "-q:a", "2"}
	if copied {
		codec = []string{"-c:a", "copy"}
	}
	args := append(append([]string{"-nostdin", "-loglevel", "error", "-y"}, input...), "-i", src, "-vn")
	out, err := exec.Command(BenchCLI(), append(append(args, codec...), dst)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ffmpeg: %w %s", err, out)
	}
	return nil
}

// CPUUsed is the CPU time, user and system, this process (self) and its
// waited-for children (ffmpeg, say) have used: what a benchmark's step
// costs, whatever else the machine runs.
func CPUUsed() (self, children time.Duration) {
	var s, c syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &s) != nil || syscall.Getrusage(syscall.RUSAGE_CHILDREN, &c) != nil {
		return 0, 0
	}
	return time.Duration(s.Utime.Nano() + s.Stime.Nano()), time.Duration(c.Utime.Nano() + c.Stime.Nano())
}

// CountingFFmpeg writes a script that runs ffmpeg after pause seconds
// ("0" for none), so that jobs queued meanwhile wait for a worker, and
// counts its runs; it returns the script's path and the runs so far.
func CountingFFmpeg(tb testing.TB, pause string) (path string, runs func() int) {
	tb.Helper()
	dir := tb.TempDir()
	log, script := filepath.Join(dir, "runs"), filepath.Join(dir, "ffmpeg")
	body := "#!/bin/sh\necho run >> " + log + "\nsleep " + pause + "\nexec ffmpeg \"$@\"\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		tb.Fatal(err)
	}
	return script, func() int {
		b, _ := os.ReadFile(log)
		return strings.Count(string(b), "run\n")
	}
}
