package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter/internal/testmedia"
)

// TestPlaylistUploads: playlists and concat lists uploaded as videos,
// naming files elsewhere on the server, fail as not a video, and no file
// outside the job's scratch dir is opened. Each names a FIFO: opening it
// for reading is what ffmpeg would do, and a writer's non-blocking open
// succeeds only while a reader has it open.
func TestPlaylistUploads(t *testing.T) {
	srv := startServe(t, testConfig(t))
	srv.addUser(t, "ann@example.com", "ann-password", false)
	c := login(t, srv.URL, "ann@example.com", "ann-password")
	elsewhere := t.TempDir()
	secret := testmedia.Make(t, testmedia.MKV, 2) // a real media file outside scratch
	fifo := filepath.Join(elsewhere, "secret.ts")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	opened := watchFIFO(t, fifo)
	for name, body := range map[string]string{
		"hls.mp4":       "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n" + fifo + "\n#EXTINF:10,\n" + secret + "\n#EXT-X-ENDLIST\n",
		"relative.mp4":  "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n../../../../../../.." + fifo + "\n#EXT-X-ENDLIST\n",
		"concat.mp4":    "ffconcat version 1.0\nfile '" + fifo + "'\nfile '" + secret + "'\n",
		"file-url.mkv":  "#EXTM3U\n#EXTINF:10,\nfile:" + fifo + "\n#EXT-X-ENDLIST\n",
		"http-url.webm": "#EXTM3U\n#EXTINF:10,\nhttp://127.0.0.1:9/x.ts\n#EXT-X-ENDLIST\n",
	} {
		path := filepath.Join(t.TempDir(), name)
		os.WriteFile(path, []byte(body), 0o644)
		j := c.waitJob(uploadNamed(t, c, path, name), time.Minute)
		if j.Status != "failed" || !strings.Contains(deref(j.Error), "not a video or audio file") {
			t.Errorf("%s: %s %q, want failed as not a video", name, j.Status, deref(j.Error))
		}
	}
	if n := opened(); n > 0 {
		t.Errorf("a file outside the scratch dir was opened %d times", n)
	}
}

// watchFIFO polls whether anyone has the FIFO open for reading, until the
// returned func is called, which says how many polls found a reader.
func watchFIFO(t *testing.T, path string) func() int {
	stop, done := make(chan struct{}), make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				done <- n
				return
			case <-time.After(2 * time.Millisecond):
			}
			f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0)
			if err == nil {
				n++
				f.Close()
			} else if !errors.Is(err, syscall.ENXIO) {
				t.Errorf("watch %s: %v", path, err)
			}
		}
	}()
	return func() int { close(stop); return <-done }
}
