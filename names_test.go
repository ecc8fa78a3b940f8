package mp3converter_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/mp3converter/mp3converter"
)

func TestSanitizeFilename(t *testing.T) {
	tests := map[string]string{
		"clip.mkv":                     "clip.mkv",
		`my "best" video.mp4`:          `my "best" video.mp4`,
		"видео 夏.webm":                 "видео 夏.webm",
		"../../etc/passwd":             "passwd",
		`C:\Users\ann\Videos\trip.mp4`: "trip.mp4",
		"line\r\nbreak.mp4":            "linebreak.mp4",
		"tab\there.mp4":                "tabhere.mp4",
		"bidi\u202egnp.mp4":            "bidignp.mp4",
		"":                             "upload",
		"..":                           "upload",
		"   ":                          "upload",
		"bad\xffutf8.mp4":              "badutf8.mp4",
		"dir/":                         "upload",
		"Content-Type: x\n\nbody.mp4":  "Content-Type: xbody.mp4",
	}
	for in, want := range tests {
		if got := mp3converter.SanitizeFilename(in); got != want {
			t.Errorf("SanitizeFilename(%q) = %q, want %q", in, got, want)
		}
	}
	long := strings.Repeat("é", 300) + ".mp4"
	got := mp3converter.SanitizeFilename(long)
	if len(got) > mp3converter.MaxFilenameBytes || !utf8.ValidString(got) {
		t.Errorf("long name: %d bytes, valid UTF-8 %v", len(got), utf8.ValidString(got))
	}
}

func TestMP3Filename(t *testing.T) {
	for in, want := range map[string]string{
		"clip.mkv":     "clip.mp3",
		"a.b.mp4":      "a.b.mp3",
		"noext":        "noext.mp3",
		".hidden":      ".hidden.mp3",
		"song.mp3":     "song.mp3",
		"":             "upload.mp3",
		"x\ny.webm":    "xy.mp3",
		`"quoted".mp4`: `"quoted".mp3`,
	} {
		if got := mp3converter.MP3Filename(in); got != want {
			t.Errorf("MP3Filename(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNormalizeEmail(t *testing.T) {
	for in, want := range map[string]string{
		"Ann@Example.COM":    "ann@example.com",
		" bob@example.com\n": "bob@example.com",
		"x@localhost":        "x@localhost",
		"Ann <a@b.c>":        "",
		"no-at-sign":         "",
		"":                   "",
		"a@b.c, d@e.f":       "",
		// Full-width forms fold to ASCII under NFKC.
		"ｆｕｌｌ@x.test": "full@x.test",
		"ＦＵＬＬ@Ｘ.ＴＥＳＴ": "full@x.test",
		// The Kelvin sign is a capital K under NFKC, then k.
		"\u212Aate@x.test":      "kate@x.test",
		"Mi\u212Aa@Example.COM": "mika@example.com",
		// Mixed case.
		"MiXeD.CaSe@ExAmPlE.oRg": "mixed.case@example.org",
		// Look-alikes and other non-ASCII letters are refused.
		"\u0430nn@example.com":  "", // Cyrillic а
		"ann@ex\u0430mple.com":  "", // Cyrillic а in the domain
		"\u0410NN@example.com":  "", // Cyrillic А, lower-cases to а
		"j\u00f6rg@example.com": "",
		"ann@b\u00fccher.de":    "",
		"\u0131nes@example.com": "",                // dotless ı
		"\u0130nes@example.com": "",                // Turkish İ
		"ann\u200b@example.com": "",                // zero-width space
		"\u3000ann@example.com": "ann@example.com", // ideographic space is a space
	} {
		got, err := mp3converter.NormalizeEmail(in)
		if (err != nil) != (want == "") || got != want {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestIDs(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := mp3converter.NewID()
		if !mp3converter.ValidID(id) || seen[id] {
			t.Fatalf("bad or repeated id %q", id)
		}
		seen[id] = true
	}
	for _, bad := range []string{"", "abc", "ABCDEFABCDEFABCDEFABCDEF", "zzzzzzzzzzzzzzzzzzzzzzzz", "0123456789abcdef012345678"} {
		if mp3converter.ValidID(bad) {
			t.Errorf("ValidID(%q) = true", bad)
		}
	}
}
