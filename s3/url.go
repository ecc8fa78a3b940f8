package s3

import (
	"fmt"
	"net/url"
	"strings"
)

// location is what an s3:// URL names.
type location struct {
	bucket   string
	prefix   string // without leading or trailing slashes; "" for none
	endpoint string // "" for AWS S3
	region   string
}

// defaultRegion is the region of a URL without one.
const defaultRegion = "us-east-1"

// parseURL reads s3://BUCKET[/PREFIX]?endpoint=URL&region=REGION. Its
// errors never quote a password the URL carries.
func parseURL(rawURL string) (location, error) {
	bad := func(format string, args ...any) (location, error) {
		return location{}, fmt.Errorf("s3 URL %s: %s", shownURL(rawURL), fmt.Sprintf(format, args...))
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		if strings.Contains(rawURL, "@") {
			return bad("malformed")
		}
		return location{}, fmt.Errorf("s3 URL: %w", err)
	}
	if u.Scheme != "s3" {
		return bad("the scheme must be s3://, not %q", u.Scheme)
	}
	if u.User != nil {
		return bad("credentials do not belong in the URL; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	}
	loc := location{bucket: u.Host, prefix: strings.Trim(u.Path, "/"), region: defaultRegion}
	if !validBucket(loc.bucket) {
		return bad("bucket %q: want 3 to 63 lower-case letters, digits, dots and hyphens, starting and ending with a letter or digit", loc.bucket)
	}
	for seg := range strings.SplitSeq(loc.prefix, "/") {
		if loc.prefix != "" && (seg == "" || seg == "." || seg == "..") {
			return bad("prefix %q: empty, . or .. path segment", loc.prefix)
		}
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return bad("query: %v", err)
	}
	for k, v := range q {
		switch {
		case k != "endpoint" && k != "region":
			return bad("unknown parameter %q (want endpoint, region)", k)
		case len(v) != 1 || v[0] == "":
			return bad("parameter %s: want one non-empty value", k)
		}
	}
	if r := q.Get("region"); r != "" {
		loc.region = r
	}
	if e := q.Get("endpoint"); e != "" {
		eu, err := url.Parse(e)
		switch {
		case err != nil:
			return bad("endpoint: not a URL")
		case eu.Scheme != "http" && eu.Scheme != "https" || eu.Host == "":
			return bad("endpoint: want http://HOST[:PORT] or https://HOST[:PORT]")
		case eu.User != nil:
			return bad("endpoint: credentials do not belong in the URL; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
		}
		loc.endpoint = e
	}
	return loc, nil
}

// shownURL is rawURL as an error may quote it: not at all if it has user
// information ("@"), in its host or in its endpoint parameter.
func shownURL(rawURL string) string {
	if strings.Contains(rawURL, "@") {
		return "(not shown: it holds credentials)"
	}
	return rawURL
}

// validBucket reports whether name is a valid S3 bucket name, roughly:
// the characters and length S3 allows.
func validBucket(name string) bool {
	if len(name) < 3 || len(name) > 63 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := 'a' <= c && c <= 'z' || '0' <= c && c <= '9'
		if !alnum && (c != '.' && c != '-' || i == 0 || i == len(name)-1) {
			return false
		}
	}
	return true
}

// CheckURL says what is wrong with rawURL as Open would, without
// connecting: for checking settings at start.
func CheckURL(rawURL string) error {
	_, err := parseURL(rawURL)
	return err
}
