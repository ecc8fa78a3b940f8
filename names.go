package mp3converter

import (
	"net/mail"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// NormalizeEmail applies Unicode NFKC to an email address, trims it, checks
// that it is plain ASCII, case-folds it and checks that it is a bare address,
// so that one account has one spelling: a full-width "ｆｕｌｌ@x.test" is
// "full@x.test" and the Kelvin sign (U+212A) is "k". An address that still
// holds a non-ASCII character after NFKC (a Cyrillic look-alike, a Turkish
// İ) is refused: on ASCII, case folding is lower-casing, and no non-ASCII
// letter is folded onto an ASCII one. Errors are EINVALID.
func NormalizeEmail(email string) (string, error) {
	e := strings.TrimSpace(norm.NFKC.String(email))
	for i := 0; i < len(e); i++ {
		if e[i] >= utf8.RuneSelf {
			return "", Errorf(EINVALID, "%q is not an email address", email)
		}
	}
	e = strings.ToLower(e)
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || a.Name != "" {
		return "", Errorf(EINVALID, "%q is not an email address", email)
	}
	return e, nil
}

// Owner is the key that a user's jobs, webhooks and limits are kept under:
// their email normalised (NormalizeEmail), or, for an address that does not
// normalise, lower-cased and trimmed. Everything that compares owners
// compares Owner's, so that one account is one owner however its email is
// spelt in a token or a message ("Mixed.Case@Example.COM" from the
// original auth is mixed.case@example.com).
func Owner(email string) string {
	if e, err := NormalizeEmail(email); err == nil {
		return e
	}
	return strings.ToLower(strings.TrimSpace(email))
}

// MaxFilenameBytes bounds a stored file name.
const MaxFilenameBytes = 200

// SanitizeFilename makes an uploaded file name safe to store and echo: the
// last path element only, no control characters (so no newlines in a header
// or an email), valid UTF-8, at most MaxFilenameBytes. Quotes and non-Latin
// letters are kept; each place that echoes the name escapes it its own way.
func SanitizeFilename(name string) string {
	name = strings.ToValidUTF8(name, "")
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == unicode.ReplacementChar || unicode.Is(unicode.Cf, r) {
			return -1
		}
		return r
	}, name)
	name = strings.TrimSpace(name)
	for len(name) > MaxFilenameBytes {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	if name == "" || name == "." || name == ".." {
		return "upload"
	}
	return name
}

// MP3Filename is the download name for an upload: its name with the
// extension replaced by .mp3.
func MP3Filename(upload string) string {
	name := SanitizeFilename(upload)
	if ext := path.Ext(name); ext != "" && len(ext) < len(name) {
		name = strings.TrimSuffix(name, ext)
	}
	return name + ".mp3"
}
