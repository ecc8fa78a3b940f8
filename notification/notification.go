// Package notification is the notification role: for each message on the
// mp3 queue it tells the uploader, by mail, that the MP3 is ready.
//
// Any converter may have announced the MP3, ours or the original system's,
// which never touches our jobs: so the role first records the MP3 on its
// job (mp3converter.RecordAnnouncedMP3), and only then mails a link to it.
//
// A job is announced once: the job records when its mail went out, and a
// redelivered message for a job already announced sends nothing. (A crash
// between sending and recording can still send twice; the mail's Message-ID
// is stable so that mail systems can drop the copy.)
//
// An outage of the job store, the blob store or the mail server is waited
// out by the queue (mp3converter.ActionWait): nothing is mailed until the
// job can be read, and the record of a mail sent is retried until the job
// store takes it, so that the outage sends no mail twice.
package notification

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"net/url"
	"strings"
	"time"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/internal/consumers"
	"github.com/mp3converter/mp3converter/internal/metrics"
)

// Worker announces finished jobs.
type Worker struct {
	Queue    mp3converter.Queue
	MP3Queue string
	Notifier mp3converter.Notifier
	// Jobs, when set, makes announcements once-only and skips deleted jobs.
	Jobs mp3converter.JobStore
	// MP3s, when set with Jobs, is where announced MP3s are, so that the
	// job of an MP3 that another converter made records it.
	MP3s mp3converter.BlobStore
	// PublicURL is the gateway's address as users reach it, for links.
	PublicURL string
	// Events, when set with Jobs, records each done job's job.done event
	// for its owner's webhooks, before the message is acknowledged.
	Events mp3converter.JobEvents
	// Policy's MinPause and MaxPause pace the retries of recording a mail
	// sent while the job store is down (1 s to 30 s when zero).
	Policy mp3converter.RetryPolicy
	// Metrics counts and times the notices sent; nil counts nothing.
	Metrics *metrics.Metrics
	Logger  *slog.Logger
}

// Run consumes the mp3 queue with n parallel handlers until ctx ends. A
// consumer that stops before then is logged: the others go on.
func (w *Worker) Run(ctx context.Context, n int) {
	consumers.Run(ctx, w.Queue, w.MP3Queue, n, func(hctx context.Context, d mp3converter.Delivery) error {
		hctx, cancel := context.WithTimeout(hctx, 2*time.Minute)
		defer cancel()
		return w.Handle(hctx, d)
	}, w.Logger)
}

// Handle announces the job of one delivery.
func (w *Worker) Handle(ctx context.Context, d mp3converter.Delivery) error {
	msg, err := mp3converter.DecodeMessage(d.Body, true)
	if err != nil {
		w.Logger.Error("MessageRejected", "queue", w.MP3Queue, "err", err)
		return err
	}
	to, err := mailbox(msg.Username)
	if err != nil {
		return mp3converter.Permanent(err)
	}
	log := w.Logger.With("job_id", msg.JobID, "mp3_fid", msg.MP3FID, "attempt", d.Attempt)
	job, err := w.job(ctx, msg)
	if err != nil {
		log.Warn("JobNotRecorded", "err", err)
		return err
	}
	if err := w.jobDone(ctx, job, msg); err != nil {
		log.Warn("JobEventNotRecorded", "err", err)
		return err
	}
	switch {
	case job == nil && msg.JobID != "" && w.Jobs != nil:
		log.Info("JobGone")
		return nil
	case job != nil && job.MP3FID != msg.MP3FID:
		log.Info("AnnouncementIgnored", "reason", "the job is done with another MP3", "job_mp3_fid", job.MP3FID)
		return nil
	case job != nil && job.NotifiedAt != nil:
		log.Info("AlreadyNotified")
		return nil
	}
	start := time.Now()
	err = w.Notifier.Notify(ctx, compose(msg, to, w.PublicURL))
	w.Metrics.Mail(time.Since(start), err)
	if err != nil {
		log.Warn("NotifyFailed", "err", err)
		return fmt.Errorf("notify: %w", err)
	}
	log.Info("Notified")
	if job != nil {
		now := time.Now().UTC()
		// Until the handler's time is up: the mail went out, and a
		// redelivery would send it again if this were lost.
		err := w.Policy.Outlast(ctx, func(ctx context.Context) error {
			_, err := w.Jobs.UpdateJob(ctx, job.ID, func(j *mp3converter.Job) error { j.NotifiedAt = &now; return nil })
			return err
		})
		if err != nil && !errors.Is(err, mp3converter.ErrNotFound) {
			// The mail went out; retrying would send it again.
			log.Error("NotifiedAtNotSaved", "err", err)
		}
	}
	return nil
}

// job records the announced MP3 on the job of msg and returns the job; nil
// when there is no job store or no job.
func (w *Worker) job(ctx context.Context, msg mp3converter.Message) (*mp3converter.Job, error) {
	switch {
	case w.Jobs == nil:
		return nil, nil
	case w.MP3s != nil:
		return mp3converter.RecordAnnouncedMP3(ctx, w.Jobs, w.MP3s, msg)
	case msg.JobID == "":
		return nil, nil
	}
	job, err := w.Jobs.Job(ctx, msg.JobID)
	if errors.Is(err, mp3converter.ErrNotFound) {
		return nil, nil
	}
	return job, err
}

// jobDone records the job.done event of a job that msg finished, whether
// or not its mail went out already: a redelivery after a crash records it
// then, and recording twice records once.
func (w *Worker) jobDone(ctx context.Context, job *mp3converter.Job, msg mp3converter.Message) error {
	if w.Events == nil || job == nil || job.Status != mp3converter.JobDone || job.MP3FID != msg.MP3FID {
		return nil
	}
	return w.Events.JobFinished(ctx, job)
}

// compose writes the seed's notice, with the file's name and a link added.
func compose(msg mp3converter.Message, to, publicURL string) mp3converter.Mail {
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

// mailbox is the address a notice goes to: the user's email as the
// message spells it (the original system kept the spelling of its users'
// addresses), when that is a plain ASCII address, else normalised. It
// returns NormalizeEmail's error for a string that is no address.
func mailbox(username string) (string, error) {
	normal, err := mp3converter.NormalizeEmail(username)
	if err != nil {
		return "", err
	}
	given := strings.TrimSpace(username)
	if a, err := mail.ParseAddress(given); err == nil && a.Address == given && strings.EqualFold(given, normal) {
		return given, nil
	}
	return normal, nil
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
