package httpapi

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/auth"
	"github.com/mp3converter/mp3converter/webhook"
)

// Webhooks is what the /webhooks routes need.
type Webhooks struct {
	Store mp3converter.WebhookStore
	// Guard checks registered URLs: public addresses only unless it
	// allows private ones.
	Guard *webhook.Guard
	// MaxPerUser caps each user's webhooks (10 if 0).
	MaxPerUser int
}

// JobJSON is a job as GET /jobs/{id} shows it: the data of webhook events.
func JobJSON(j *mp3converter.Job) any { return toJSON(j) }

var (
	errNoWebhook       = mp3converter.Errorf(mp3converter.ENOTFOUND, "webhook not found")
	errNoWebhooks      = mp3converter.Errorf(mp3converter.EUNAVAILABLE, "webhooks are not available on this server")
	errWebhookRequest  = mp3converter.Errorf(mp3converter.EINVALID, `want a JSON body {"url": "https://..."}`)
	deliveriesListed   = 50
	maxWebhookBodySize = int64(webhook.MaxURLLength + 1024)
)

type webhookJSON struct {
	ID           string        `json:"id"`
	URL          string        `json:"url"`
	CreatedAt    time.Time     `json:"created_at"`
	LastDelivery *deliveryJSON `json:"last_delivery"`
}

// newWebhookJSON is the answer to its creation, the one with the secret.
type newWebhookJSON struct {
	ID        string    `json:"id"`
	URL       string    `json:"url"`
	Secret    string    `json:"secret"`
	CreatedAt time.Time `json:"created_at"`
}

type deliveryJSON struct {
	ID            string     `json:"id"` // the webhook-id header
	Event         string     `json:"event"`
	JobID         string     `json:"job_id"`
	Status        string     `json:"status"`
	Attempts      int        `json:"attempts"`
	HTTPStatus    *int       `json:"http_status"`
	Error         *string    `json:"error"`
	At            time.Time  `json:"at"` // of the last attempt; of the event before any
	NextAttemptAt *time.Time `json:"next_attempt_at"`
}

func toDeliveryJSON(d *mp3converter.WebhookDelivery) *deliveryJSON {
	v := &deliveryJSON{ID: d.ID, Event: d.Event, JobID: d.JobID, Status: string(d.Status), Attempts: d.Attempts,
		At: cmp.Or(d.AttemptedAt, d.CreatedAt)}
	if d.HTTPStatus != 0 {
		v.HTTPStatus = &d.HTTPStatus
	}
	if d.Error != "" {
		v.Error = &d.Error
	}
	if d.Status == mp3converter.DeliveryPending && !d.NextAt.IsZero() {
		v.NextAttemptAt = &d.NextAt
	}
	return v
}

// webhookStore is the store behind the routes, or the error to answer.
func (g *Gateway) webhookStore() (mp3converter.WebhookStore, error) {
	if g.Webhooks == nil || g.Webhooks.Store == nil || g.Webhooks.Guard == nil {
		return nil, errNoWebhooks
	}
	return g.Webhooks.Store, nil
}

// createWebhook serves POST /webhooks: it registers a URL for the caller's
// job events and answers with the signing secret, shown this once.
func (g *Gateway) createWebhook(w http.ResponseWriter, r *http.Request, c *auth.Claims) {
	err := g.registerWebhook(w, r, c)
	if err != nil {
		Error(w, r, g.Logger, err)
	}
}

func (g *Gateway) registerWebhook(w http.ResponseWriter, r *http.Request, c *auth.Claims) error {
	store, err := g.webhookStore()
	if err != nil {
		return err
	}
	var req struct {
		URL string `json:"url"`
	}
	body := http.MaxBytesReader(w, r.Body, maxWebhookBodySize)
	if err := json.NewDecoder(body).Decode(&req); err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return errBodyTooSlow
		}
		return errWebhookRequest
	}
	target := strings.TrimSpace(req.URL)
	if target == "" {
		return errWebhookRequest
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	if err := g.Webhooks.Guard.CheckURL(ctx, target); err != nil {
		return err
	}
	hooks, err := store.ListWebhooks(r.Context(), c.Owner())
	if err != nil {
		return err
	}
	if limit := cmp.Or(g.Webhooks.MaxPerUser, 10); len(hooks) >= limit {
		return mp3converter.Errorf(mp3converter.ECONFLICT, "you have %d webhooks, the most allowed; delete one first", limit)
	}
	hook := &mp3converter.Webhook{ID: mp3converter.NewID(), Owner: c.Owner(), URL: target, Secret: webhook.NewSecret()}
	if err := store.CreateWebhook(r.Context(), hook); err != nil {
		return err
	}
	g.Logger.Info("WebhookCreated", "request_id", requestID(r.Context()), "webhook_id", hook.ID)
	w.Header().Set("Location", "/webhooks/"+hook.ID)
	writeJSON(w, http.StatusCreated, newWebhookJSON{ID: hook.ID, URL: hook.URL, Secret: hook.Secret, CreatedAt: hook.CreatedAt})
	return nil
}

// listWebhooks serves GET /webhooks: the caller's webhooks, oldest first,
// each with its latest delivery's outcome.
func (g *Gateway) listWebhooks(w http.ResponseWriter, r *http.Request, c *auth.Claims) {
	store, err := g.webhookStore()
	var hooks []*mp3converter.Webhook
	if err == nil {
		hooks, err = store.ListWebhooks(r.Context(), c.Owner())
	}
	out := make([]webhookJSON, 0, len(hooks))
	for _, h := range hooks {
		if err != nil {
			break
		}
		v := webhookJSON{ID: h.ID, URL: h.URL, CreatedAt: h.CreatedAt}
		var last []*mp3converter.WebhookDelivery
		if last, err = store.ListDeliveries(r.Context(), h.ID, 1); len(last) == 1 {
			v.LastDelivery = toDeliveryJSON(last[0])
		}
		out = append(out, v)
	}
	if err != nil {
		Error(w, r, g.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// ownWebhook loads the webhook named in the path if it is the caller's;
// anyone else's is not found.
func (g *Gateway) ownWebhook(r *http.Request, c *auth.Claims) (mp3converter.WebhookStore, *mp3converter.Webhook, error) {
	store, err := g.webhookStore()
	if err != nil {
		return nil, nil, err
	}
	id := strings.ToLower(r.PathValue("id"))
	if !mp3converter.ValidID(id) {
		return nil, nil, errNoWebhook
	}
	h, err := store.Webhook(r.Context(), id)
	if errors.Is(err, mp3converter.ErrNotFound) || err == nil && h.Owner != c.Owner() {
		return nil, nil, errNoWebhook
	}
	return store, h, err
}

// deleteWebhook serves DELETE /webhooks/{id}: the webhook and its pending
// deliveries go.
func (g *Gateway) deleteWebhook(w http.ResponseWriter, r *http.Request, c *auth.Claims) {
	store, h, err := g.ownWebhook(r, c)
	if err == nil {
		err = store.DeleteWebhook(r.Context(), h.ID)
	}
	if errors.Is(err, mp3converter.ErrNotFound) {
		err = errNoWebhook
	}
	if err != nil {
		Error(w, r, g.Logger, err)
		return
	}
	g.Logger.Info("WebhookDeleted", "request_id", requestID(r.Context()), "webhook_id", h.ID)
	w.WriteHeader(http.StatusNoContent)
}

// webhookDeliveries serves GET /webhooks/{id}/deliveries: its latest
// deliveries, newest first.
func (g *Gateway) webhookDeliveries(w http.ResponseWriter, r *http.Request, c *auth.Claims) {
	store, h, err := g.ownWebhook(r, c)
	var ds []*mp3converter.WebhookDelivery
	if err == nil {
		ds, err = store.ListDeliveries(r.Context(), h.ID, deliveriesListed)
	}
	if err != nil {
		Error(w, r, g.Logger, err)
		return
	}
	out := make([]*deliveryJSON, 0, len(ds))
	for _, d := range ds {
		out = append(out, toDeliveryJSON(d))
	}
	writeJSON(w, http.StatusOK, out)
}
