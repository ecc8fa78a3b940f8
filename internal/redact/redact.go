// Package redact keeps passwords of connection URLs (mysql://, mongodb://,
// amqp://) out of logs and error messages. It works on the text as written,
// so a malformed URL, which is when an error quotes one, is redacted too.
package redact

import (
	"net/url"
	"strings"
)

const mask = "xxxxx"

// URL returns rawURL with the password of its user information, if any,
// replaced by "xxxxx", and the rest as written. When the URL does not parse
// cleanly (see clean), the password is taken to hold an unescaped "@", ":",
// "/", "?" or "#": it ends at the last "@", or without one runs to the end.
// So a mistyped URL may lose more than its password, but never shows part
// of it.
func URL(rawURL string) string {
	start, end, ok := passwordSpan(rawURL)
	if !ok {
		return rawURL
	}
	return rawURL[:start] + mask + rawURL[end:]
}

// Error returns err with the password of rawURL, as written and
// unescaped, replaced by "xxxxx" in its message, for client libraries whose
// errors quote the URL. It unwraps to err.
func Error(err error, rawURL string) error {
	start, end, ok := passwordSpan(rawURL)
	if err == nil || !ok {
		return err
	}
	pw := rawURL[start:end]
	msg := strings.ReplaceAll(err.Error(), pw, mask)
	if u, uerr := url.PathUnescape(pw); uerr == nil && u != "" {
		msg = strings.ReplaceAll(msg, u, mask)
	}
	return redactedError{msg, err}
}

type redactedError struct {
	msg string
	err error
}

func (e redactedError) Error() string { return e.msg }
func (e redactedError) Unwrap() error { return e.err }

// passwordSpan returns where the password is in rawURL.
func passwordSpan(rawURL string) (start, end int, ok bool) {
	// Without "://" the user information starts the text: url.Parse reads
	// "user:pw@host/db" as scheme "user", so only the fallback sees it.
	base := 0
	scheme := strings.Index(rawURL, "://")
	if scheme >= 0 {
		base = scheme + 3
	}
	rest := rawURL[base:]
	var userinfo string
	switch at := strings.LastIndexByte(rest, '@'); {
	case clean(rawURL):
		// As url.Parse reads it: the authority ends at the first "/", "?"
		// or "#", its user information at its last "@".
		authority := rest
		if i := strings.IndexAny(rest, "/?#"); i >= 0 {
			authority = rest[:i]
		}
		at = strings.LastIndexByte(authority, '@')
		if scheme < 0 || at < 0 {
			return 0, 0, false
		}
		userinfo = authority[:at]
	case at >= 0:
		userinfo = rest[:at]
	default:
		userinfo = rest
	}
	colon := strings.IndexByte(userinfo, ':')
	if colon < 0 || colon+1 == len(userinfo) {
		return 0, 0, false
	}
	return base + colon + 1, base + len(userinfo), true
}

// clean reports whether url.Parse reads rawURL without error and every "@"
// where a URL may have one: in the authority or in a query value, as in
// mongodb's ?appName=a@b. An "@" in the path, the fragment or a query
// parameter's name, or in the query of a URL without user information,
// most likely ends a password holding an unescaped "/", "?" or "#".
func clean(rawURL string) bool {
	u, err := url.Parse(rawURL)
	if err != nil || u.Opaque != "" ||
		strings.Contains(u.EscapedPath(), "@") || strings.Contains(u.EscapedFragment(), "@") ||
		u.User == nil && strings.Contains(u.RawQuery, "@") {
		return false
	}
	for _, kv := range strings.Split(u.RawQuery, "&") {
		if name, _, _ := strings.Cut(kv, "="); strings.Contains(name, "@") {
			return false
		}
	}
	return true
}
