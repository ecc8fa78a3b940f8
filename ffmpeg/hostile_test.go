package ffmpeg_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/ffmpeg"
	"github.com/mp3converter/mp3converter/internal/testmedia"
)

// Hostile uploads (issue 9): playlists and scripts named x.mp4 that make
// ffprobe and ffmpeg read something other than the uploaded file.

// hlsPlaylist returns an HLS playlist with one 2 s segment at url.
func hlsPlaylist(url string) string {
	return "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n" +
		"#EXTINF:2.0,\n" + url + "\n#EXT-X-ENDLIST\n"
}

// outsideMedia copies a real media file into a directory of its own, apart
// from any upload, and returns its absolute path.
func outsideMedia(t *testing.T, kind testmedia.Kind, name string) string {
	t.Helper()
	b, err := os.ReadFile(testmedia.Make(t, kind, 2))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// upload writes content as x.mp4 in a scratch directory of its own.
func upload(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "x.mp4")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// assertRefused checks that Probe refuses path as not media and that ToMP3,
// called anyway as if a probe had passed, writes no MP3.
func assertRefused(t *testing.T, path string) {
	t.Helper()
	c := &ffmpeg.Transcoder{}
	ctx := context.Background()
	info, err := c.Probe(ctx, path)
	if !errors.Is(err, ffmpeg.ErrNotMedia) || !mp3converter.IsPermanent(err) {
		t.Errorf("Probe = %+v, %v; want permanent ErrNotMedia", info, err)
	}
	dst := filepath.Join(t.TempDir(), "out.mp3")
	fake := &mp3converter.MediaInfo{Format: "mov,mp4,m4a,3gp,3g2,mj2", AudioCodec: "aac", Duration: 2}
	if _, err := c.ToMP3(ctx, path, dst, fake, mp3converter.TranscodeOptions{}); err == nil {
		t.Errorf("ToMP3 converted %s", path)
	}
	if fi, err := os.Stat(dst); err == nil && fi.Size() > 0 {
		t.Errorf("ToMP3 wrote %d bytes of MP3 from %s", fi.Size(), path)
	}
}

// unrestrictedFormat returns the format plain ffprobe (every demuxer and
// protocol on) reads path as, or "" if it cannot: the hole the fix closes.
func unrestrictedFormat(path string) string {
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "format=format_name",
		"-of", "default=nw=1:nk=1", path).Output()
	if err != nil {
		return ""
	}
	return string(out)
}

func TestHostileHLSLocalFile(t *testing.T) {
	media := outsideMedia(t, testmedia.MKV, "secret.mkv")
	path := upload(t, hlsPlaylist(media))
	if got := unrestrictedFormat(path); got != "hls\n" {
		t.Logf("note: unrestricted ffprobe reads the playlist as %q, not hls", got)
	}
	assertRefused(t, path)
}

func TestHostileHLSRelative(t *testing.T) {
	media := outsideMedia(t, testmedia.MKV, "secret.mkv")
	scratch := t.TempDir()
	rel, err := filepath.Rel(scratch, media)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(scratch, "x.mp4")
	if err := os.WriteFile(path, []byte(hlsPlaylist(rel)), 0o644); err != nil {
		t.Fatal(err)
	}
	assertRefused(t, path)
}

func TestHostileConcat(t *testing.T) {
	media := outsideMedia(t, testmedia.MKV, "secret.mkv")
	assertRefused(t, upload(t, fmt.Sprintf("ffconcat version 1.0\nfile '%s'\n", media)))
}

// TestHostileConcatSameDir: a concat script naming a file beside it, which
// plain ffprobe does read (the concat demuxer's "safe" check allows it).
func TestHostileConcatSameDir(t *testing.T) {
	path := upload(t, "ffconcat version 1.0\nfile 'other.mkv'\n")
	b, err := os.ReadFile(testmedia.Make(t, testmedia.MKV, 2))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(filepath.Dir(path), "other.mkv"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := unrestrictedFormat(path); got != "concat\n" {
		t.Logf("note: unrestricted ffprobe reads the script as %q, not concat", got)
	}
	assertRefused(t, path)
}

func TestHostileHLSHTTP(t *testing.T) {
	media, err := os.ReadFile(testmedia.Make(t, testmedia.MP3, 2))
	if err != nil {
		t.Fatal(err)
	}
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Write(media)
	}))
	defer srv.Close()
	assertRefused(t, upload(t, hlsPlaylist(srv.URL+"/x.ts")))
	if n := hits.Load(); n != 0 {
		t.Errorf("the server got %d requests", n)
	}
}

func TestHostileHLSDataURI(t *testing.T) {
	media, err := os.ReadFile(testmedia.Make(t, testmedia.MP3, 2))
	if err != nil {
		t.Fatal(err)
	}
	uri := "data:audio/mpeg;base64," + base64.StdEncoding.EncodeToString(media)
	assertRefused(t, upload(t, hlsPlaylist(uri)))
}

// TestInputIsLocal: an upload whose name looks like a URL or an option is
// still read as the local file it is.
func TestInputIsLocal(t *testing.T) {
	b, err := os.ReadFile(testmedia.Make(t, testmedia.MP4, 2))
	if err != nil {
		t.Fatal(err)
	}
	c := &ffmpeg.Transcoder{}
	ctx := context.Background()
	for _, name := range []string{"http:x.mp4", "-i.mp4", "data:x.mp4"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, name)
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			info, err := c.Probe(ctx, path)
			if err != nil {
				t.Fatalf("Probe: %v", err)
			}
			if _, err := c.ToMP3(ctx, path, filepath.Join(dir, "o:ut.mp3"), info, mp3converter.TranscodeOptions{}); err != nil {
				t.Fatalf("ToMP3: %v", err)
			}
		})
	}
}
