package webhook

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/internal/metrics"
)

// Events records finished jobs' events for their owners' webhooks. It
// implements mp3converter.JobEvents.
type Events struct {
	Store mp3converter.WebhookStore
	// JobJSON is a job as GET /jobs/{id} shows it: the event's data.
	JobJSON func(*mp3converter.Job) any
	Logger  *slog.Logger
}

var _ mp3converter.JobEvents = (*Events)(nil)

// event is the body POSTed.
type event struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      any       `json:"data"`
}

// JobFinished records job.done or job.failed, by job's status, once for
// each webhook of its owner: a delivery that exists already is kept, with
// its webhook-id and body. A job neither done nor failed records nothing.
// Its errors are the store's.
func (e *Events) JobFinished(ctx context.Context, job *mp3converter.Job) error {
	var kind string
	switch job.Status {
	case mp3converter.JobDone:
		kind = mp3converter.EventJobDone
	case mp3converter.JobFailed:
		kind = mp3converter.EventJobFailed
	default:
		return nil
	}
	hooks, err := e.Store.ListWebhooks(ctx, job.Owner)
	if err != nil || len(hooks) == 0 {
		return err
	}
	body, err := json.Marshal(event{Type: kind, Timestamp: time.Now().UTC().Truncate(time.Millisecond), Data: e.JobJSON(job)})
	if err != nil {
		return fmt.Errorf("webhook event: %w", err)
	}
	for _, h := range hooks {
		d := &mp3converter.WebhookDelivery{ID: "msg_" + mp3converter.NewID(), WebhookID: h.ID, JobID: job.ID, Event: kind, Payload: body}
		err := e.Store.CreateDelivery(ctx, d)
		switch {
		case errors.Is(err, mp3converter.ErrConflict):
			continue // recorded already, by an earlier delivery of the message
		case err != nil:
			return fmt.Errorf("webhook event %s of job %s: %w", kind, job.ID, err)
		}
		e.Logger.Info("WebhookEventRecorded", "event", kind, "job_id", job.ID, "webhook_id", h.ID, "delivery_id", d.ID)
	}
	return nil
}

// DefaultBackoff is the Standard Webhooks schedule: after an immediate
// attempt, retries 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h after each
// failure, about 28 hours in all.
var DefaultBackoff = []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour,
	5 * time.Hour, 10 * time.Hour, 10 * time.Hour}

// Timeout bounds one attempt: connecting, sending and the answer.
const Timeout = 10 * time.Second

// publicClient is the client of a Dispatcher without one.
var publicClient = sync.OnceValue(func() *http.Client { return (&Guard{}).Client(Timeout) })

// maxBody is how much of a receiver's answer is read (and discarded).
const maxBody = 64 << 10

// Dispatcher sends due deliveries and records their outcome. Any number
// of processes may run one on the same store.
type Dispatcher struct {
	Store mp3converter.WebhookStore
	// Client sends; (&Guard{}).Client(Timeout), public addresses only, if nil.
	Client *http.Client
	// Backoff are the pauses after each failed attempt; when they run out
	// the delivery has failed. DefaultBackoff if nil.
	Backoff []time.Duration
	// Poll is how often the store is asked for due deliveries (1 s if 0).
	Poll time.Duration
	// Lease is how long a claimed delivery is this process's; if it dies,
	// another sends it after that (2 min if 0, well over Timeout).
	Lease time.Duration
	// Parallel is how many deliveries are sent at once (8 if 0).
	Parallel int
	// Metrics counts attempts by outcome; nil counts nothing.
	Metrics *metrics.Metrics
	Logger  *slog.Logger
}

// Run sends due deliveries until ctx ends, then lets the sends in flight
// finish (within Timeout) and record their outcome.
func (d *Dispatcher) Run(ctx context.Context) {
	batch := cmp.Or(d.Parallel, 8)
	for {
		if n := d.SendDue(ctx, batch); n == batch && ctx.Err() == nil {
			continue // more may be due
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(cmp.Or(d.Poll, time.Second)):
		}
	}
}

// SendDue claims up to n due deliveries, sends them at once and records
// their outcomes. It returns how many it claimed.
func (d *Dispatcher) SendDue(ctx context.Context, n int) int {
	claimed, err := d.Store.ClaimDeliveries(ctx, time.Now(), cmp.Or(d.Lease, 2*time.Minute), n)
	if err != nil {
		if ctx.Err() == nil {
			d.Logger.Warn("WebhookClaimFailed", "err", err)
		}
		return 0
	}
	var wg sync.WaitGroup
	for _, dl := range claimed {
		wg.Go(func() { d.deliver(context.WithoutCancel(ctx), dl) })
	}
	wg.Wait()
	return len(claimed)
}

// deliver makes one attempt of dl and records it.
func (d *Dispatcher) deliver(ctx context.Context, dl *mp3converter.WebhookDelivery) {
	log := d.Logger.With("delivery_id", dl.ID, "webhook_id", dl.WebhookID, "job_id", dl.JobID, "event", dl.Event, "attempt", dl.Attempts+1)
	hook, err := d.Store.Webhook(ctx, dl.WebhookID)
	if err != nil && !errors.Is(err, mp3converter.ErrNotFound) {
		log.Warn("WebhookLookupFailed", "err", err) // the lease runs out and it is tried again
		return
	}
	backoff := d.Backoff
	if backoff == nil {
		backoff = DefaultBackoff
	}
	var status int
	if hook == nil {
		err = errors.New("the webhook was deleted")
		dl.Attempts = len(backoff)
	} else {
		status, err = d.send(ctx, hook, dl)
	}
	now := time.Now().UTC()
	dl.Attempts++
	dl.HTTPStatus, dl.AttemptedAt, dl.Error, dl.NextAt = status, now, "", time.Time{}
	switch {
	case err == nil:
		dl.Status = mp3converter.DeliveryDelivered
		log.Info("WebhookDelivered", "http_status", status)
		d.Metrics.WebhookDelivery("delivered")
	case dl.Attempts > len(backoff):
		dl.Status, dl.Error = mp3converter.DeliveryFailed, errorText(err)
		log.Warn("WebhookDeliveryFailed", "http_status", status, "err", err)
		d.Metrics.WebhookDelivery("failed")
	default:
		dl.Status, dl.Error, dl.NextAt = mp3converter.DeliveryPending, errorText(err), now.Add(backoff[dl.Attempts-1])
		log.Info("WebhookAttemptFailed", "http_status", status, "err", err, "next_at", dl.NextAt)
		d.Metrics.WebhookDelivery("retry")
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := d.Store.RecordDelivery(rctx, dl); err != nil {
		// Unrecorded, it is sent again when its lease runs out: at least once.
		log.Warn("WebhookRecordFailed", "err", err)
	}
}

// send POSTs dl to hook, signed, and returns the answer's status; an error
// if none came or it was not 2xx.
func (d *Dispatcher) send(ctx context.Context, hook *mp3converter.Webhook, dl *mp3converter.WebhookDelivery) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	ts := time.Now().Unix()
	sig, err := Sign(hook.Secret, dl.ID, ts, dl.Payload)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hook.URL, bytes.NewReader(dl.Payload))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "mp3converter-webhooks")
	req.Header.Set("webhook-id", dl.ID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", sig)
	client := d.Client
	if client == nil {
		client = publicClient()
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return resp.StatusCode, nil
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return resp.StatusCode, fmt.Errorf("HTTP %d: redirects are not followed", resp.StatusCode)
	}
	return resp.StatusCode, fmt.Errorf("HTTP %d", resp.StatusCode)
}

// errorText is an attempt's error as the user sees it, bounded.
func errorText(err error) string {
	s := err.Error()
	if len(s) > 500 {
		s = s[:500]
	}
	return s
}
