package redact_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/mp3converter/mp3converter/internal/redact"
)

func TestURL(t *testing.T) {
	tests := []struct{ uri, want string }{
		{"mongodb://127.0.0.1:27017", "mongodb://127.0.0.1:27017"},
		{"mongodb://user@host/db", "mongodb://user@host/db"},
		{"mongodb://user:pw@host/db", "mongodb://user:xxxxx@host/db"},
		{"mongodb://user:p%40w@h1:1,h2:2/videos?authSource=admin", "mongodb://user:xxxxx@h1:1,h2:2/videos?authSource=admin"},
		{"mongodb+srv://u:a/b@cluster.example/", "mongodb+srv://u:xxxxx@cluster.example/"},
		{"mongodb://u:pw@host/?appName=a@b", "mongodb://u:xxxxx@host/?appName=a@b"},
		{"not a uri", "not a uri"},
		{"", ""},
		{"amqp://guest:guest@127.0.0.1:5672/", "amqp://guest:xxxxx@127.0.0.1:5672/"},
		{"amqp://u:@host/", "amqp://u:@host/"},
		{"mysql://u:p@[::1]:3306/auth", "mysql://u:xxxxx@[::1]:3306/auth"},
		{"mysql://u:pw%20x@db/auth?tls=true", "mysql://u:xxxxx@db/auth?tls=true"},
	}
	for _, tt := range tests {
		if got := redact.URL(tt.uri); got != tt.want {
			t.Errorf("URL(%q) = %q, want %q", tt.uri, got, tt.want)
		}
	}
}

// TestURLMalformed: a password with unescaped special characters, or a
// URL that does not parse, never shows in part.
func TestURLMalformed(t *testing.T) {
	const secret = "S3CRET"
	tests := []struct{ uri, want string }{
		{"root:" + secret + "@db/auth", "root:xxxxx@db/auth"},
		{"mysql://root:" + secret + "@db:port/auth", "mysql://root:xxxxx@db:port/auth"},
		{"mysql://root:" + secret + "%zz@db/auth", "mysql://root:xxxxx@db/auth"},
		{"mysql://root:" + secret + "/x@db/auth", "mysql://root:xxxxx@db/auth"},
		{"mysql://root:12/" + secret + "@db/auth", "mysql://root:xxxxx@db/auth"},
		{"mysql://root:12?" + secret + "@db/auth", "mysql://root:xxxxx@db/auth"},
		{"mysql://root:12?a=" + secret + "@db/auth", "mysql://root:xxxxx@db/auth"},
		{"mysql://root:12#" + secret + "@db/auth", "mysql://root:xxxxx@db/auth"},
		{"mysql://root:a#" + secret + "@db/auth", "mysql://root:xxxxx@db/auth"},
		{"mysql://root:" + secret + "/auth", "mysql://root:xxxxx"},
		{"mysql://u:p@" + secret + "?wd@db/auth", "mysql://u:xxxxx@db/auth"},
		{"mysql://u:p@" + secret + "/wd@db/auth", "mysql://u:xxxxx@db/auth"},
		{"amqp://u:" + secret + "@host:notaport/", "amqp://u:xxxxx@host:notaport/"},
	}
	for _, tt := range tests {
		got := redact.URL(tt.uri)
		if got != tt.want {
			t.Errorf("URL(%q) = %q, want %q", tt.uri, got, tt.want)
		}
		if strings.Contains(got, "S3C") {
			t.Errorf("URL(%q) = %q shows the password", tt.uri, got)
		}
	}
}

func TestError(t *testing.T) {
	inner := errors.New("auth failed for s3cr@t and s3cr%40t")
	err := redact.Error(inner, "mongodb://u:s3cr%40t@host/")
	if strings.Contains(err.Error(), "s3cr") {
		t.Errorf("password left in %q", err)
	}
	if !errors.Is(err, inner) {
		t.Error("redacted error does not unwrap to the original")
	}
	if err := redact.Error(inner, "mongodb://host/"); err != inner {
		t.Errorf("Error without a password = %v, want the error itself", err)
	}
	if err := redact.Error(nil, "mongodb://u:pw@host/"); err != nil {
		t.Errorf("Error(nil) = %v", err)
	}
}
