//go:build integration

package main

import (
	"strings"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/internal/testmedia"
	"github.com/mp3converter/mp3converter/internal/testsupport"
)

// TestIntegrationNoticeBySMTP: with --smtp-url set, a finished job mails its owner the
// seed's notice, naming the MP3's fid, the file and a download link.
func TestIntegrationNoticeBySMTP(t *testing.T) {
	smtpAddr, api := testsupport.Mailpit(t)
	cfg := testConfig(t)
	cfg.SMTPURL = "smtp://" + smtpAddr
	cfg.PublicURL = "https://mp3converter.example.com"
	srv := startServe(t, cfg)
	to := "notice-" + strings.ToLower(time.Now().Format("150405.000000")) + "@example.com"
	srv.addUser(t, to, "a-password", false)
	c := login(t, srv.URL, to, "a-password")
	j := c.waitJob(c.upload(testmedia.Make(t, testmedia.MKV, 2), `Vacation "2024" видео.mkv`).JobID, time.Minute)
	if j.Status != "done" {
		t.Fatalf("job %s: %s", j.Status, deref(j.Error))
	}
	var got []mp3converter.Mail
	testsupport.Eventually(t, 15*time.Second, "a mail to "+to, func() bool {
		got = testsupport.MailpitInbox(t, api, to)
		return len(got) > 0
	})
	var mails []string
	for _, m := range got {
		if m.Subject != "MP3 Download" {
			t.Errorf("subject %q", m.Subject)
		}
		mails = append(mails, m.Body)
	}
	if len(mails) != 1 {
		t.Fatalf("%d mails to %s, want 1", len(mails), to)
	}
	for _, want := range []string{
		"mp3 file_id: " + *j.MP3FID + " is now ready!",
		`Vacation "2024" видео.mp3`,
		"https://mp3converter.example.com/download?fid=" + *j.MP3FID,
	} {
		if !strings.Contains(mails[0], want) {
			t.Errorf("mail lacks %q:\n%s", want, mails[0])
		}
	}
	if nj, _ := c.job(j.ID); nj.Status != "done" {
		t.Errorf("job after notice: %+v", nj)
	}
}
