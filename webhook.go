package mp3converter

import (
	"context"
	"time"
)

// Webhook is a URL that a user registered to be told, by a signed POST
// (Standard Webhooks), when one of their jobs finishes.
type Webhook struct {
	ID        string
	Owner     string // the user's email, as Job.Owner
	URL       string
	Secret    string // "whsec_" + base64 of the signing key; shown to the user once
	CreatedAt time.Time
}

// The events a webhook is told of.
const (
	EventJobDone   = "job.done"
	EventJobFailed = "job.failed"
)

// DeliveryStatus is where one event's delivery to one webhook stands.
type DeliveryStatus string

const (
	DeliveryPending   DeliveryStatus = "pending"   // not yet delivered; NextAt is when it is tried again
	DeliveryDelivered DeliveryStatus = "delivered" // the receiver answered 2xx
	DeliveryFailed    DeliveryStatus = "failed"    // every attempt failed; given up
)

// WebhookDelivery is one event for one webhook and what became of it.
type WebhookDelivery struct {
	// ID is the event's webhook-id: the same on every attempt, so that a
	// receiver can drop duplicates.
	ID         string
	WebhookID  string
	JobID      string
	Event      string // EventJobDone or EventJobFailed
	Payload    []byte // the body POSTed, fixed when the event is recorded
	Status     DeliveryStatus
	Attempts   int
	HTTPStatus int    // of the last attempt's answer; 0 if none came
	Error      string // why the last attempt failed
	CreatedAt  time.Time
	// AttemptedAt is when the last attempt ended; zero before the first.
	AttemptedAt time.Time
	// NextAt is when a pending delivery is due (or its lease ends).
	NextAt time.Time
	// Lease is set by ClaimDeliveries: RecordDelivery needs it.
	Lease string
}

// WebhookStore keeps webhooks and their deliveries. Deliveries are a
// durable outbox: they outlive restarts, and several processes may send
// them, each delivery claimed by one at a time.
type WebhookStore interface {
	// CreateWebhook stores w, setting CreatedAt. ErrConflict if w.ID exists.
	CreateWebhook(ctx context.Context, w *Webhook) error
	// Webhook returns ErrNotFound when there is no such webhook.
	Webhook(ctx context.Context, id string) (*Webhook, error)
	// ListWebhooks returns owner's webhooks, oldest first.
	ListWebhooks(ctx context.Context, owner string) ([]*Webhook, error)
	// DeleteWebhook removes a webhook and its deliveries; ErrNotFound if
	// absent.
	DeleteWebhook(ctx context.Context, id string) error
	// CreateDelivery stores d as pending and due at d.NextAt (now if zero),
	// setting CreatedAt. ErrConflict if d's webhook already has a delivery
	// of d's event for d's job, or d.ID exists: recording an event twice
	// sends it once.
	CreateDelivery(ctx context.Context, d *WebhookDelivery) error
	// ClaimDeliveries returns up to limit pending deliveries due at now,
	// oldest due first, each leased until now+lease: no other claim returns
	// it until then, unless RecordDelivery releases it first.
	ClaimDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]*WebhookDelivery, error)
	// RecordDelivery saves the Status, Attempts, HTTPStatus, Error,
	// AttemptedAt and NextAt of a claimed delivery and releases its lease.
	// ErrConflict if the lease was lost to another claim, ErrNotFound if the
	// delivery is gone.
	RecordDelivery(ctx context.Context, d *WebhookDelivery) error
	// ListDeliveries returns a webhook's latest deliveries, newest first,
	// without their payloads.
	ListDeliveries(ctx context.Context, webhookID string, limit int) ([]*WebhookDelivery, error)
}

// JobEvents is told of jobs that finished (done or failed), so that their
// owners' webhooks hear of them. Telling it twice of one job's end records
// one event.
type JobEvents interface {
	JobFinished(ctx context.Context, job *Job) error
}
