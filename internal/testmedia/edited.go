package testmedia

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Joined writes an MP4 of AAC at 44.1 kHz (192k) that three tracks of
// real speech (espeak-ng) over pink noise make, each seconds long and cut
// off mid-frame, joined by ffmpeg's concat demuxer without re-encoding, as
// edited and concatenated videos are. Where two tracks meet, a packet
// lasts longer or shorter by its timestamps than the 1,024 samples it
// decodes to.
func Joined(tb testing.TB, seconds float64) string {
	tb.Helper()
	dir := tb.TempDir()
	var list strings.Builder
	for i, line := range []string{
		"The first track of the joins test. The quick brown fox jumps over the lazy dog.",
		"Here the second track starts, cut off in the middle of a frame, as edits are.",
		"And this is the third and last track, which runs to the end of the file.",
	} {
		wav, track := filepath.Join(dir, fmt.Sprintf("speech%d.wav", i)), filepath.Join(dir, fmt.Sprintf("track%d.m4a", i))
		run(tb, "espeak-ng", "-w", wav, line)
		d := seconds + 0.0137*float64(i+1) // not a whole number of frames
		run(tb, "ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", wav,
			"-f", "lavfi", "-i", "anoisesrc=color=pink:amplitude=0.05:sample_rate=44100:duration="+fmt.Sprint(d),
			"-filter_complex", "[0:a]aresample=44100,apad[s];[s][1:a]amix=inputs=2:duration=shortest",
			"-ac", "2", "-c:a", "aac", "-b:a", "192k", track)
		fmt.Fprintf(&list, "file '%s'\n", track)
	}
	listPath, out := filepath.Join(dir, "list.txt"), filepath.Join(dir, "joined.mp4")
	if err := os.WriteFile(listPath, []byte(list.String()), 0o644); err != nil {
		tb.Fatal(err)
	}
	run(tb, "ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "concat", "-safe", "0", "-i", listPath, "-c", "copy", out)
	return out
}

// ShrunkTable writes seconds of AAC in MP4 (sine and pink noise, without
// noise substitution) whose timing table (stts) times an eighth of its
// packets: the probe says an eighth of the length, ffmpeg decodes it all.
func ShrunkTable(tb testing.TB, seconds float64) string {
	tb.Helper()
	src := Encode(tb, "whole.mp4", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration="+fmt.Sprint(seconds),
		"-f", "lavfi", "-i", "anoisesrc=color=pink:amplitude=0.2:sample_rate=48000:duration="+fmt.Sprint(seconds),
		"-filter_complex", "[0:a][1:a]amix=inputs=2,pan=stereo|c0=c0|c1=c0", "-c:a", "aac", "-aac_pns", "0", "-b:a", "128k")
	b, err := os.ReadFile(src)
	if err != nil {
		tb.Fatal(err)
	}
	// stts: size, type, version and flags, entry count, then count and delta.
	at := bytes.Index(b, []byte("stts"))
	if at < 0 || binary.BigEndian.Uint32(b[at+8:]) == 0 {
		tb.Fatalf("testmedia: %s has no stts", src)
	}
	count := binary.BigEndian.Uint32(b[at+12:])
	binary.BigEndian.PutUint32(b[at+12:], count/8)
	return write(tb, "shrunk.mp4", b)
}
