//go:build integration

package smtp_test

import (
	"testing"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/internal/testsupport"
	"github.com/mp3converter/mp3converter/notifytest"
	"github.com/mp3converter/mp3converter/smtp"
)

// TestIntegrationMailpit runs the notifier suite against a real SMTP server.
func TestIntegrationMailpit(t *testing.T) {
	smtpAddr, api := testsupport.Mailpit(t)
	n, err := smtp.New("smtp://"+smtpAddr, "mp3converter@example.com", 0)
	if err != nil {
		t.Fatal(err)
	}
	notifytest.Run(t, n, func(t *testing.T, to string) []mp3converter.Mail { return testsupport.MailpitInbox(t, api, to) })
}
