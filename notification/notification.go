// Package notification is the notification role: for each message on the
// mp3 queue it tells the uploader, by mail, that the MP3 is ready.
//
// A job is announced once: the job records when its mail went out, and a
// redelivered message for a job already announced sends nothing. (A crash
// between sending and recording can still send twice; the mail's Message-ID
// is stable so that mail systems can drop the copy.)
package notification

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/mp3converter/mp3converter"
)

// Worker announces finished jobs.
type Worker struct {
	Queue    mp3converter.Queue
	MP3Queue string
	Notifier mp3converter.Notifier
	// Jobs, when set, makes announcements once-only and skips deleted jobs.
	Jobs mp3converter.JobStore
	// PublicURL is the gateway's address as users reach it, for links.
	PublicURL string
	Logger    *slog.Logger
}

// Run consumes the mp3 queue with n parallel handlers until ctx ends.
func (w *Worker) Run(ctx context.Context, n int) error {
	var wg sync.WaitGroup
	for range max(n, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := w.Queue.Consume(ctx, w.MP3Queue, func(hctx context.Context, d mp3converter.Delivery) error {
				hctx, cancel := context.WithTimeout(hctx, 2*time.Minute)
				defer cancel()
				return w.Handle(hctx, d)
			})
			if err != nil && ctx.Err() == nil {
				w.Logger.Error("ConsumerStopped", "queue", w.MP3Queue, "err", err)
			}
		}()
	}
	wg.Wait()
	return nil
}

// Handle announces the job of one delivery.
func (w *Worker) Handle(ctx context.Context, d mp3converter.Delivery) error {
	msg, err := mp3converter.DecodeMessage(d.Body, true)
	if err != nil {
		w.Logger.Error("MessageRejected", "queue", w.MP3Queue, "err", err)
		return err
	}
	to, err := mp3converter.NormalizeEmail(msg.Username)
	if err != nil {
		return mp3converter.Permanent(err)
	}
	log := w.Logger.With("job_id", msg.JobID, "mp3_fid", msg.MP3FID, "attempt", d.Attempt)
	if msg.JobID != "" && w.Jobs != nil {
		job, err := w.Jobs.Job(ctx, msg.JobID)
		if errors.Is(err, mp3converter.ErrNotFound) {
			log.Info("JobGone")
			return nil
		}
		if err != nil {
			return err
		}
		if job.NotifiedAt != nil {
			log.Info("AlreadyNotified")
			return nil
		}
	}
	if err := w.Notifier.Notify(ctx, Compose(msg, to, w.PublicURL)); err != nil {
		log.Warn("NotifyFailed", "err", err)
		return fmt.Errorf("notify: %w", err)
	}
	log.Info("Notified")
	if msg.JobID != "" && w.Jobs != nil {
		now := time.Now().UTC()
		_, err := w.Jobs.UpdateJob(context.WithoutCancel(ctx), msg.JobID, func(j *mp3converter.Job) error { j.NotifiedAt = &now; return nil })
		if err != nil && !errors.Is(err, mp3converter.ErrNotFound) {
			// The mail went out; retrying would send it again.
			log.Error("NotifiedAtNotSaved", "err", err)
		}
	}
	return nil
}

// Compose writes the seed's notice, with the file's name and a link added.
func Compose(msg mp3converter.Message, to, publicURL string) mp3converter.Mail {
	var b strings.Builder
	fmt.Fprintf(&b, "mp3 file_id: %s is now ready!\n\n", msg.MP3FID)
	if msg.Filename != "" {
		fmt.Fprintf(&b, "File: %s (from %s)\n", mp3converter.MP3Filename(msg.Filename), mp3converter.SanitizeFilename(msg.Filename))
	}
	if publicURL != "" {
		fmt.Fprintf(&b, "Download: %s/download?fid=%s\n", strings.TrimRight(publicURL, "/"), url.QueryEscape(msg.MP3FID))
	}
	id := msg.JobID
	if id == "" {
		id = msg.MP3FID
	}
	return mp3converter.Mail{To: to, Subject: "MP3 Download", Body: b.String(), ID: "mp3-" + id + "@mp3converter"}
}

// LogNotifier writes notices to a log instead of sending them: the default
// when no SMTP server is configured.
type LogNotifier struct{ Logger *slog.Logger }

var _ mp3converter.Notifier = LogNotifier{}

// String names where notices go, for logs.
func (LogNotifier) String() string { return "log" }

// Notify implements mp3converter.Notifier.
func (n LogNotifier) Notify(ctx context.Context, m mp3converter.Mail) error {
	if _, err := mp3converter.NormalizeEmail(m.To); err != nil {
		return mp3converter.Permanent(err)
	}
	n.Logger.Info("MailNotSent", "reason", "no SMTP server configured", "to", m.To, "subject", m.Subject, "body", m.Body, "id", m.ID)
	return nil
}
