package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/mp3converter/mp3converter"
)

// WebhookStore keeps webhooks in the table `webhook` and their deliveries,
// the outbox the dispatcher sends from, in `webhook_delivery`.
type WebhookStore struct {
	DB      *sql.DB
	Dialect Dialect
}

var _ mp3converter.WebhookStore = (*WebhookStore)(nil)

const webhookColumns = `id, owner, url, secret, created_at`

// microsTime scans a column of Unix microseconds (0: the zero time).
type microsTime time.Time

func (t *microsTime) Scan(v any) error {
	var us sql.NullInt64
	if err := us.Scan(v); err != nil {
		return err
	}
	*t = microsTime(fromMicros(us.Int64))
	return nil
}

func scanWebhook(row interface{ Scan(...any) error }) (*mp3converter.Webhook, error) {
	var w mp3converter.Webhook
	err := row.Scan(&w.ID, &w.Owner, &w.URL, &w.Secret, (*microsTime)(&w.CreatedAt))
	return &w, err
}

// CreateWebhook implements mp3converter.WebhookStore.
func (s *WebhookStore) CreateWebhook(ctx context.Context, w *mp3converter.Webhook) error {
	if w.CreatedAt.IsZero() {
		w.CreatedAt = time.Now().UTC()
	}
	_, err := s.DB.ExecContext(ctx, `INSERT INTO webhook (`+webhookColumns+`) VALUES (?, ?, ?, ?, ?)`,
		w.ID, w.Owner, w.URL, w.Secret, micros(w.CreatedAt))
	if err != nil {
		if s.Dialect.IsDuplicate(err) {
			return fmt.Errorf("create webhook %s: %w", w.ID, mp3converter.ErrConflict)
		}
		return unavailable("create webhook", err)
	}
	return nil
}

// Webhook implements mp3converter.WebhookStore.
func (s *WebhookStore) Webhook(ctx context.Context, id string) (*mp3converter.Webhook, error) {
	return queryOne(ctx, s.DB, "webhook "+id, scanWebhook, `SELECT `+webhookColumns+` FROM webhook WHERE id = ?`, id)
}

// ListWebhooks implements mp3converter.WebhookStore.
func (s *WebhookStore) ListWebhooks(ctx context.Context, owner string) ([]*mp3converter.Webhook, error) {
	return queryAll(ctx, s.DB, "list webhooks", scanWebhook,
		`SELECT `+webhookColumns+` FROM webhook WHERE owner = ? ORDER BY created_at, id`, owner)
}

// DeleteWebhook implements mp3converter.WebhookStore.
func (s *WebhookStore) DeleteWebhook(ctx context.Context, id string) error {
	return InTx(ctx, s.DB, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM webhook_delivery WHERE webhook_id = ?`, id); err != nil {
			return unavailable("delete webhook deliveries", err)
		}
		return deleteOne(ctx, tx, "webhook "+id, `DELETE FROM webhook WHERE id = ?`, id)
	})
}

// deleteOwnerWebhooks removes owner's webhooks and their deliveries, with
// the account: a new account of the same email must not inherit them.
func deleteOwnerWebhooks(ctx context.Context, tx *sql.Tx, owner string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM webhook_delivery WHERE webhook_id IN (SELECT id FROM webhook WHERE owner = ?)`, owner); err != nil {
		return unavailable("delete webhook deliveries", err)
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM webhook WHERE owner = ?`, owner)
	return unavailable("delete webhooks", err)
}

const deliveryColumns = `id, webhook_id, job_id, event, status, attempts, http_status, error, created_at, attempted_at, next_at`

func scanDelivery(row interface{ Scan(...any) error }, extra ...any) (*mp3converter.WebhookDelivery, error) {
	var d mp3converter.WebhookDelivery
	dest := append([]any{&d.ID, &d.WebhookID, &d.JobID, &d.Event, (*string)(&d.Status), &d.Attempts, &d.HTTPStatus, &d.Error,
		(*microsTime)(&d.CreatedAt), (*microsTime)(&d.AttemptedAt), (*microsTime)(&d.NextAt)}, extra...)
	err := row.Scan(dest...)
	return &d, err
}

// CreateDelivery implements mp3converter.WebhookStore.
func (s *WebhookStore) CreateDelivery(ctx context.Context, d *mp3converter.WebhookDelivery) error {
	now := time.Now().UTC()
	d.CreatedAt, d.Status = now, mp3converter.DeliveryPending
	if d.NextAt.IsZero() {
		d.NextAt = now
	}
	_, err := s.DB.ExecContext(ctx, `INSERT INTO webhook_delivery (`+deliveryColumns+`, payload, lease_token)
		VALUES (`+placeholders(13)+`)`, d.ID, d.WebhookID, d.JobID, d.Event, string(d.Status), d.Attempts, d.HTTPStatus,
		d.Error, micros(d.CreatedAt), micros(d.AttemptedAt), micros(d.NextAt), d.Payload, "")
	if err != nil {
		if s.Dialect.IsDuplicate(err) {
			return fmt.Errorf("create delivery of %s for job %s: %w", d.Event, d.JobID, mp3converter.ErrConflict)
		}
		return unavailable("create delivery", err)
	}
	return nil
}

// ClaimDeliveries implements mp3converter.WebhookStore. Each row is taken
// by an UPDATE that checks it is still due, so that two processes racing
// for it cannot both take it, whatever the engine's locking.
func (s *WebhookStore) ClaimDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]*mp3converter.WebhookDelivery, error) {
	var claimed []*mp3converter.WebhookDelivery
	err := InTx(ctx, s.DB, func(tx *sql.Tx) error {
		claimed = nil
		due, err := s.due(ctx, tx, now, limit)
		if err != nil {
			return err
		}
		for _, d := range due {
			token := mp3converter.NewID()
			res, err := tx.ExecContext(ctx, `UPDATE webhook_delivery SET next_at = ?, lease_token = ?
				WHERE id = ? AND status = ? AND next_at <= ?`,
				micros(now.Add(lease)), token, d.ID, string(mp3converter.DeliveryPending), micros(now))
			if err != nil {
				return unavailable("claim delivery", err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return unavailable("claim delivery", err)
			} else if n == 1 {
				d.Lease, d.NextAt = token, now.Add(lease).UTC()
				claimed = append(claimed, d)
			}
		}
		return nil
	})
	return claimed, err
}

// due reads the pending deliveries due at now, with their payloads.
func (s *WebhookStore) due(ctx context.Context, tx *sql.Tx, now time.Time, limit int) ([]*mp3converter.WebhookDelivery, error) {
	rows, err := tx.QueryContext(ctx, `SELECT `+deliveryColumns+`, payload FROM webhook_delivery
		WHERE status = ? AND next_at <= ? ORDER BY next_at, id LIMIT `+fmt.Sprint(max(limit, 1))+` `+s.Dialect.ForUpdate,
		string(mp3converter.DeliveryPending), micros(now))
	if err != nil {
		return nil, unavailable("claim deliveries", err)
	}
	defer rows.Close()
	var due []*mp3converter.WebhookDelivery
	for rows.Next() {
		var payload []byte
		d, err := scanDelivery(rows, &payload)
		if err != nil {
			return nil, unavailable("claim deliveries", err)
		}
		d.Payload = payload
		due = append(due, d)
	}
	return due, unavailable("claim deliveries", rows.Err())
}

// RecordDelivery implements mp3converter.WebhookStore.
func (s *WebhookStore) RecordDelivery(ctx context.Context, d *mp3converter.WebhookDelivery) error {
	if d.Lease == "" {
		return fmt.Errorf("record delivery %s: not claimed: %w", d.ID, mp3converter.ErrConflict)
	}
	res, err := s.DB.ExecContext(ctx, `UPDATE webhook_delivery SET status = ?, attempts = ?, http_status = ?, error = ?,
		attempted_at = ?, next_at = ?, lease_token = '' WHERE id = ? AND lease_token = ?`,
		string(d.Status), d.Attempts, d.HTTPStatus, d.Error, micros(d.AttemptedAt), micros(d.NextAt), d.ID, d.Lease)
	if err != nil {
		return unavailable("record delivery", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return unavailable("record delivery", err)
	} else if n == 1 {
		d.Lease = ""
		return nil
	}
	var one int
	err = s.DB.QueryRowContext(ctx, `SELECT 1 FROM webhook_delivery WHERE id = ?`, d.ID).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("delivery %s: %w", d.ID, mp3converter.ErrNotFound)
	case err != nil:
		return unavailable("record delivery", err)
	}
	return fmt.Errorf("record delivery %s: lease lost: %w", d.ID, mp3converter.ErrConflict)
}

// ListDeliveries implements mp3converter.WebhookStore.
func (s *WebhookStore) ListDeliveries(ctx context.Context, webhookID string, limit int) ([]*mp3converter.WebhookDelivery, error) {
	return queryAll(ctx, s.DB, "list deliveries", func(row interface{ Scan(...any) error }) (*mp3converter.WebhookDelivery, error) {
		return scanDelivery(row)
	}, `SELECT `+deliveryColumns+` FROM webhook_delivery WHERE webhook_id = ?
		ORDER BY created_at DESC, id DESC LIMIT `+fmt.Sprint(max(limit, 1)), webhookID)
}
