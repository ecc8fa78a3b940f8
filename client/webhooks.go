package client

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// Webhook is a registered webhook as GET /webhooks lists it.
type Webhook struct {
	ID        string    `json:"id"`
	URL       string    `json:"url"`
	CreatedAt time.Time `json:"created_at"`
	// Secret signs the deliveries; the server shows it only when the
	// webhook is added.
	Secret       string    `json:"secret,omitempty"`
	LastDelivery *Delivery `json:"last_delivery,omitempty"`
}

// Delivery is one attempt to deliver an event to a webhook.
type Delivery struct {
	ID       string `json:"id,omitempty"` // the webhook-id header
	Event    string `json:"event"`
	JobID    string `json:"job_id,omitempty"`
	Status   string `json:"status"` // delivered, failed or pending
	Attempts int    `json:"attempts"`
	// HTTPStatus is the target's answer; 0 if none (null on the wire).
	HTTPStatus    int        `json:"http_status"`
	Error         string     `json:"error"`
	At            time.Time  `json:"at"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
}

// AddWebhook registers target; the answer carries its secret. A refused
// target (a private address, not https...) is an *APIError with 400.
func (c *Client) AddWebhook(ctx context.Context, target string) (*Webhook, error) {
	var w Webhook
	if err := c.doJSON(ctx, http.MethodPost, "/webhooks", map[string]string{"url": target}, &w); err != nil {
		return nil, err
	}
	return &w, nil
}

// Webhooks lists the caller's webhooks.
func (c *Client) Webhooks(ctx context.Context) ([]Webhook, error) {
	var ws []Webhook
	return ws, c.getJSON(ctx, "/webhooks", &ws)
}

// DeleteWebhook removes one; an *APIError with 404 if there is none.
func (c *Client) DeleteWebhook(ctx context.Context, id string) error {
	return c.doJSON(ctx, http.MethodDelete, "/webhooks/"+url.PathEscape(id), nil, nil)
}

// Deliveries lists a webhook's latest deliveries.
func (c *Client) Deliveries(ctx context.Context, id string) ([]Delivery, error) {
	var ds []Delivery
	return ds, c.getJSON(ctx, "/webhooks/"+url.PathEscape(id)+"/deliveries", &ds)
}
