package smtp_test

import (
	"strings"
	"testing"

	"github.com/mp3converter/mp3converter/smtp"
)

func TestNewValidates(t *testing.T) {
	tests := []struct {
		url, from string
		wantErr   string
	}{
		{"smtp://127.0.0.1:1025", "mp3converter@example.com", ""},
		{"smtp://user:secret@mail.example.com:587?tls=required", "a@example.com", ""},
		{"smtps://user:secret@mail.example.com", "a@example.com", ""},
		{"smtp://mail.example.com?tls=none", "a@example.com", ""},
		{"http://mail.example.com", "a@example.com", "scheme"},
		{"smtp://", "a@example.com", "no host"},
		{"smtp://mail.example.com:99999", "a@example.com", "bad port"},
		{"smtp://mail.example.com?tls=maybe", "a@example.com", "tls="},
		{"smtp://mail.example.com", "not an address", "sender"},
		{"::not a url", "a@example.com", "SMTP URL"},
	}
	for _, tt := range tests {
		n, err := smtp.New(tt.url, tt.from, 0)
		if tt.wantErr == "" {
			if err != nil {
				t.Errorf("New(%q): %v", tt.url, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("New(%q, %q) = %v, want error mentioning %q", tt.url, tt.from, err, tt.wantErr)
		}
		_ = n
	}
	// The password never shows in the notifier's name.
	n, err := smtp.New("smtp://user:hunter2@mail.example.com:587", "a@example.com", 0)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(n.String(), "hunter2") {
		t.Errorf("String() leaks the password: %s", n)
	}
}
