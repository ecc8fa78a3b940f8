package notification_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/notification"
	"github.com/mp3converter/mp3converter/notifytest"
)

// recorder is a slog.Handler that keeps MailNotSent records as mails.
type recorder struct {
	mu    sync.Mutex
	mails []mp3converter.Mail
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *recorder) WithGroup(string) slog.Handler            { return r }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	if rec.Message != "MailNotSent" {
		return nil
	}
	var m mp3converter.Mail
	rec.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "to":
			m.To = a.Value.String()
		case "subject":
			m.Subject = a.Value.String()
		case "body":
			m.Body = a.Value.String()
		case "id":
			m.ID = a.Value.String()
		}
		return true
	})
	r.mu.Lock()
	r.mails = append(r.mails, m)
	r.mu.Unlock()
	return nil
}

func TestLogNotifier(t *testing.T) {
	rec := &recorder{}
	notifytest.Run(t, notification.LogNotifier{Logger: slog.New(rec)}, func(t *testing.T, to string) []mp3converter.Mail {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		var out []mp3converter.Mail
		for _, m := range rec.mails {
			if m.To == to {
				out = append(out, m)
			}
		}
		return out
	})
}

func TestCompose(t *testing.T) {
	msg := mp3converter.Message{VideoFID: "0123456789abcdef01234567", MP3FID: "89abcdef0123456789abcdef", Username: "ann@example.com",
		JobID: "aaaaaaaaaaaaaaaaaaaaaaaa", Filename: "trip \"2024\"\n.mkv"}
	m := notification.Compose(msg, "ann@example.com", "https://mp3converter.com/")
	if m.Subject != "MP3 Download" || m.To != "ann@example.com" {
		t.Errorf("mail %+v", m)
	}
	for _, want := range []string{
		"mp3 file_id: 89abcdef0123456789abcdef is now ready!",
		`File: trip "2024".mp3 (from trip "2024".mkv)`,
		"Download: https://mp3converter.com/download?fid=89abcdef0123456789abcdef",
	} {
		if !strings.Contains(m.Body, want) {
			t.Errorf("body lacks %q:\n%s", want, m.Body)
		}
	}
	if m.ID != "mp3-aaaaaaaaaaaaaaaaaaaaaaaa@mp3converter" {
		t.Errorf("Message-ID %q is not stable per job", m.ID)
	}
}
