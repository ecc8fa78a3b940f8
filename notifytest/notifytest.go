// Package notifytest is the conformance suite every mp3converter.Notifier
// passes.
package notifytest

import (
	"context"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter"
)

// Inbox returns the mails that reached address so far.
type Inbox func(t *testing.T, address string) []mp3converter.Mail

// Run runs the suite against a notifier and a way to read what it sent.
func Run(t *testing.T, n mp3converter.Notifier, inbox Inbox) {
	ctx := context.Background()

	t.Run("Delivers", func(t *testing.T) {
		to := strings.ToLower("user-"+rand.Text()[:8]) + "@example.com"
		sent := []mp3converter.Mail{
			{To: to, Subject: "MP3 Download", Body: "mp3 file_id: 0123456789abcdef01234567 is now ready!\n\nFile: видео \"1\".mp3\n", ID: "mp3-a-" + rand.Text()[:6] + "@mp3converter"},
			{To: to, Subject: "MP3 Download", Body: "second", ID: "mp3-b-" + rand.Text()[:6] + "@mp3converter"},
		}
		for _, m := range sent {
			if err := n.Notify(ctx, m); err != nil {
				t.Fatalf("Notify: %v", err)
			}
		}
		var got []mp3converter.Mail
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if got = inbox(t, to); len(got) >= len(sent) {
				break
			}
		}
		if len(got) != len(sent) {
			t.Fatalf("%d mails arrived, want %d", len(got), len(sent))
		}
		for _, want := range sent {
			found := false
			for _, g := range got {
				if g.ID == want.ID {
					found = true
					if g.To != want.To || g.Subject != want.Subject || strings.TrimSpace(g.Body) != strings.TrimSpace(want.Body) {
						t.Errorf("received %+v, sent %+v", g, want)
					}
				}
			}
			if !found {
				t.Errorf("mail %s not received; got %+v", want.ID, got)
			}
		}
	})

	t.Run("BadRecipientIsPermanent", func(t *testing.T) {
		err := n.Notify(ctx, mp3converter.Mail{To: "not an address", Subject: "MP3 Download", Body: "x"})
		if err == nil || !mp3converter.IsPermanent(err) {
			t.Errorf("Notify to a malformed address: %v, want a permanent error", err)
		}
	})
}
