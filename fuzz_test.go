package mp3converter_test

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/mp3converter/mp3converter"
)

// FuzzDecodeMessage: any bytes on a queue either decode into a message that
// names valid ids and survives a round trip, or are refused as permanent.
func FuzzDecodeMessage(f *testing.F) {
	f.Add([]byte(`{"video_fid": "0123456789abcdef01234567", "mp3_fid": null, "username": "a@b.c"}`), false)
	f.Add([]byte(`{"video_fid": "0123456789abcdef01234567", "mp3_fid": "89abcdef0123456789abcdef", "username": "a@b.c", "job_id": "aaaaaaaaaaaaaaaaaaaaaaaa"}`), true)
	f.Add([]byte(`{"video_fid": "0123456789ABCDEF01234567", "mp3_fid": 5, "username": ""}`), false)
	f.Add([]byte(`[]`), false)
	f.Add([]byte(`{`), true)
	f.Fuzz(func(t *testing.T, body []byte, needMP3 bool) {
		m, err := mp3converter.DecodeMessage(body, needMP3)
		if err != nil {
			if !mp3converter.IsPermanent(err) {
				t.Fatalf("refusal %v is not permanent", err)
			}
			return
		}
		if !mp3converter.ValidID(m.VideoFID) || (needMP3 && !mp3converter.ValidID(m.MP3FID)) || m.Username == "" ||
			(m.JobID != "" && !mp3converter.ValidID(m.JobID)) {
			t.Fatalf("accepted a bad message: %+v", m)
		}
		out, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		back, err := mp3converter.DecodeMessage(out, needMP3)
		if err != nil || back != m {
			t.Fatalf("round trip: %+v -> %s -> %+v, %v", m, out, back, err)
		}
	})
}

// FuzzSanitizeFilename: whatever a client calls its file, the stored name
// is short, valid UTF-8, one path element, without control characters.
func FuzzSanitizeFilename(f *testing.F) {
	for _, s := range []string{"clip.mkv", "../../etc/passwd", "a\r\nb.mp4", "видео.webm", "\xff\xfe", "", "..", `C:\x\y.mp4`, "\u202e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		s := mp3converter.SanitizeFilename(name)
		if s == "" || len(s) > mp3converter.MaxFilenameBytes || !utf8.ValidString(s) ||
			strings.ContainsAny(s, `/\`) || s == "." || s == ".." || strings.IndexFunc(s, unicode.IsControl) >= 0 {
			t.Fatalf("SanitizeFilename(%q) = %q", name, s)
		}
		if m := mp3converter.MP3Filename(name); !strings.HasSuffix(m, ".mp3") || strings.ContainsAny(m, "/\\\r\n") {
			t.Fatalf("MP3Filename(%q) = %q", name, m)
		}
	})
}
