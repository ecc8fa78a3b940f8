package parallel

import (
	"bytes"
	"errors"
	"io"
	"os/exec"
	"testing"

	"github.com/mp3converter/mp3converter/internal/testmedia"
)

func TestReadWAVHeader(t *testing.T) {
	src := testmedia.Make(t, testmedia.MP4, 1)
	out, err := exec.Command("ffmpeg", "-v", "error", "-i", src, "-ac", "1", "-ar", "22050", "-c:a", "pcm_f32le",
		"-fflags", "+bitexact", "-f", "wav", "pipe:1").Output()
	if err != nil {
		t.Fatal(err)
	}
	r := bytes.NewReader(out)
	f, err := readWAVHeader(r)
	if err != nil || f != (PCMFormat{Rate: 22050, Channels: 1}) {
		t.Fatalf("got %+v, %v", f, err)
	}
	if n := r.Len(); n < 22050*4*9/10 || n%4 != 0 {
		t.Errorf("%d bytes of samples left", n)
	}
	for _, args := range [][]string{{"-c:a", "pcm_s16le"}, {"-c:a", "pcm_f32le", "-ac", "6"}} {
		all := append([]string{"-v", "error", "-i", src}, args...)
		out, err := exec.Command("ffmpeg", append(all, "-f", "wav", "pipe:1")...).Output()
		if err != nil {
			t.Fatal(err)
		}
		if f, err := readWAVHeader(bytes.NewReader(out)); err == nil {
			t.Errorf("%v: read as %+v", args, f)
		}
	}
	if _, err := readWAVHeader(bytes.NewReader([]byte("RIFF\xff\xff\xff\xffWAVEdata"))); err == nil {
		t.Error("data before fmt accepted")
	}
	if _, err := readWAVHeader(bytes.NewReader(nil)); !errors.Is(err, io.EOF) {
		t.Errorf("empty output: %v, want EOF", err)
	}
}
