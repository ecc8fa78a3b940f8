package storetest

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter"
)

// RunWebhooks runs the WebhookStore suite.
func RunWebhooks(t *testing.T, newStore func(t *testing.T) mp3converter.WebhookStore) {
	t.Run("CreateListDelete", func(t *testing.T) { testWebhookCRUD(t, newStore(t)) })
	t.Run("EventRecordedOnce", func(t *testing.T) { testDeliveryOnce(t, newStore(t)) })
	t.Run("ClaimLeaseRecord", func(t *testing.T) { testDeliveryClaim(t, newStore(t)) })
	t.Run("ConcurrentClaims", func(t *testing.T) { testDeliveryConcurrentClaims(t, newStore(t)) })
	t.Run("ListDeliveries", func(t *testing.T) { testDeliveryList(t, newStore(t)) })
}

func newWebhook(t *testing.T, s mp3converter.WebhookStore, owner string) *mp3converter.Webhook {
	t.Helper()
	w := &mp3converter.Webhook{ID: mp3converter.NewID(), Owner: owner, URL: "https://hooks.example.com/" + owner,
		Secret: "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"}
	if err := s.CreateWebhook(context.Background(), w); err != nil {
		t.Fatal(err)
	}
	return w
}

func newDelivery(w *mp3converter.Webhook, jobID, event string) *mp3converter.WebhookDelivery {
	return &mp3converter.WebhookDelivery{ID: "msg_" + mp3converter.NewID(), WebhookID: w.ID, JobID: jobID, Event: event,
		Payload: []byte(`{"type":"` + event + `","data":{"id":"` + jobID + `"}}`)}
}

func createDelivery(t *testing.T, s mp3converter.WebhookStore, d *mp3converter.WebhookDelivery) *mp3converter.WebhookDelivery {
	t.Helper()
	if err := s.CreateDelivery(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	return d
}

func testWebhookCRUD(t *testing.T, s mp3converter.WebhookStore) {
	ctx := context.Background()
	a1 := newWebhook(t, s, "ann@example.com")
	newWebhook(t, s, "bob@example.com")
	a2 := newWebhook(t, s, "ann@example.com")
	if a1.CreatedAt.IsZero() {
		t.Error("CreateWebhook did not set CreatedAt")
	}
	if err := s.CreateWebhook(ctx, &mp3converter.Webhook{ID: a1.ID, Owner: "x@example.com", URL: "https://x", Secret: "s"}); !errors.Is(err, mp3converter.ErrConflict) {
		t.Errorf("duplicate id: %v, want ErrConflict", err)
	}
	got, err := s.Webhook(ctx, a1.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Owner != a1.Owner || got.URL != a1.URL || got.Secret != a1.Secret || !got.CreatedAt.Equal(a1.CreatedAt.Truncate(time.Microsecond)) {
		t.Errorf("got %+v, want %+v", got, a1)
	}
	list, err := s.ListWebhooks(ctx, "ann@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != a1.ID || list[1].ID != a2.ID {
		t.Errorf("ListWebhooks = %d webhooks, want ann's 2 oldest first", len(list))
	}
	d := createDelivery(t, s, newDelivery(a1, mp3converter.NewID(), mp3converter.EventJobDone))
	if err := s.DeleteWebhook(ctx, a1.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteWebhook(ctx, a1.ID); !errors.Is(err, mp3converter.ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}
	if _, err := s.Webhook(ctx, a1.ID); !errors.Is(err, mp3converter.ErrNotFound) {
		t.Errorf("deleted webhook: %v, want ErrNotFound", err)
	}
	if ds, _ := s.ListDeliveries(ctx, a1.ID, 10); len(ds) != 0 {
		t.Errorf("a deleted webhook's deliveries remain: %d", len(ds))
	}
	d.Lease = "x"
	if err := s.RecordDelivery(ctx, d); !errors.Is(err, mp3converter.ErrNotFound) {
		t.Errorf("recording a deleted delivery: %v, want ErrNotFound", err)
	}
}

func testDeliveryOnce(t *testing.T, s mp3converter.WebhookStore) {
	ctx := context.Background()
	w1, w2 := newWebhook(t, s, "ann@example.com"), newWebhook(t, s, "ann@example.com")
	job := mp3converter.NewID()
	d := createDelivery(t, s, newDelivery(w1, job, mp3converter.EventJobDone))
	if d.Status != mp3converter.DeliveryPending || d.CreatedAt.IsZero() || d.NextAt.IsZero() {
		t.Errorf("CreateDelivery left %+v", d)
	}
	if err := s.CreateDelivery(ctx, newDelivery(w1, job, mp3converter.EventJobDone)); !errors.Is(err, mp3converter.ErrConflict) {
		t.Errorf("the same event again: %v, want ErrConflict", err)
	}
	again := newDelivery(w2, job, mp3converter.EventJobDone)
	again.ID = d.ID
	if err := s.CreateDelivery(ctx, again); !errors.Is(err, mp3converter.ErrConflict) {
		t.Errorf("a delivery id again: %v, want ErrConflict", err)
	}
	createDelivery(t, s, newDelivery(w1, job, mp3converter.EventJobFailed))
	createDelivery(t, s, newDelivery(w2, job, mp3converter.EventJobDone))
	createDelivery(t, s, newDelivery(w1, mp3converter.NewID(), mp3converter.EventJobDone))
}

func testDeliveryClaim(t *testing.T, s mp3converter.WebhookStore) {
	ctx := context.Background()
	w := newWebhook(t, s, "ann@example.com")
	d := createDelivery(t, s, newDelivery(w, mp3converter.NewID(), mp3converter.EventJobDone))
	later := newDelivery(w, mp3converter.NewID(), mp3converter.EventJobDone)
	later.NextAt = time.Now().Add(time.Hour)
	createDelivery(t, s, later)

	now := time.Now().Add(time.Second)
	got, err := s.ClaimDeliveries(ctx, now, time.Minute, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != d.ID || got[0].Lease == "" || !bytes.Equal(got[0].Payload, d.Payload) || got[0].JobID != d.JobID {
		t.Fatalf("claimed %+v, want the one due delivery with its payload and a lease", got)
	}
	if again, _ := s.ClaimDeliveries(ctx, now.Add(30*time.Second), time.Minute, 10); len(again) != 0 {
		t.Errorf("a leased delivery was claimed again: %d", len(again))
	}
	// The lease ran out (its holder died): another claim takes it over, and
	// the first holder can no longer record.
	retaken, err := s.ClaimDeliveries(ctx, now.Add(2*time.Minute), time.Minute, 10)
	if err != nil || len(retaken) != 1 || retaken[0].Lease == got[0].Lease {
		t.Fatalf("after the lease: %v %+v", err, retaken)
	}
	stale := *got[0]
	stale.Attempts, stale.Status = 1, mp3converter.DeliveryDelivered
	if err := s.RecordDelivery(ctx, &stale); !errors.Is(err, mp3converter.ErrConflict) {
		t.Errorf("recording with a lost lease: %v, want ErrConflict", err)
	}
	r := retaken[0]
	at := now.Add(2 * time.Minute)
	r.Status, r.Attempts, r.HTTPStatus, r.Error, r.AttemptedAt, r.NextAt = mp3converter.DeliveryPending, 1, 500, "HTTP 500", at, at.Add(5*time.Second)
	if err := s.RecordDelivery(ctx, r); err != nil {
		t.Fatal(err)
	}
	if r.Lease != "" {
		t.Error("RecordDelivery kept the lease")
	}
	if early, _ := s.ClaimDeliveries(ctx, at.Add(4*time.Second), time.Minute, 10); len(early) != 0 {
		t.Errorf("claimed before its retry was due: %d", len(early))
	}
	due, err := s.ClaimDeliveries(ctx, at.Add(6*time.Second), time.Minute, 10)
	if err != nil || len(due) != 1 || due[0].Attempts != 1 || due[0].HTTPStatus != 500 || due[0].Error != "HTTP 500" {
		t.Fatalf("retry: %v %+v", err, due)
	}
	due[0].Status, due[0].Attempts, due[0].HTTPStatus, due[0].Error, due[0].NextAt = mp3converter.DeliveryDelivered, 2, 204, "", time.Time{}
	if err := s.RecordDelivery(ctx, due[0]); err != nil {
		t.Fatal(err)
	}
	if done, _ := s.ClaimDeliveries(ctx, at.Add(time.Hour), time.Minute, 10); len(done) != 1 || done[0].ID != later.ID {
		t.Errorf("a delivered delivery was claimed again, or the later one not: %+v", done)
	}
}

func testDeliveryConcurrentClaims(t *testing.T, s mp3converter.WebhookStore) {
	ctx := context.Background()
	w := newWebhook(t, s, "ann@example.com")
	const n = 20
	for range n {
		createDelivery(t, s, newDelivery(w, mp3converter.NewID(), mp3converter.EventJobDone))
	}
	now := time.Now().Add(time.Second)
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				got, err := s.ClaimDeliveries(ctx, now, time.Minute, 3)
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, d := range got {
					seen[d.ID]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != n {
		t.Errorf("%d deliveries claimed, want %d", len(seen), n)
	}
	for id, times := range seen {
		if times != 1 {
			t.Errorf("delivery %s claimed %d times", id, times)
		}
	}
}

func testDeliveryList(t *testing.T, s mp3converter.WebhookStore) {
	ctx := context.Background()
	w, other := newWebhook(t, s, "ann@example.com"), newWebhook(t, s, "ann@example.com")
	var ids []string
	for range 3 {
		ids = append(ids, createDelivery(t, s, newDelivery(w, mp3converter.NewID(), mp3converter.EventJobFailed)).ID)
		time.Sleep(2 * time.Millisecond) // distinct creation times
	}
	createDelivery(t, s, newDelivery(other, mp3converter.NewID(), mp3converter.EventJobDone))
	got, err := s.ListDeliveries(ctx, w.ID, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != ids[2] || got[1].ID != ids[1] {
		t.Fatalf("ListDeliveries = %+v, want the newest 2 of %v, newest first", got, ids)
	}
	d := got[0]
	if d.WebhookID != w.ID || d.Event != mp3converter.EventJobFailed || d.Status != mp3converter.DeliveryPending || d.Attempts != 0 || d.CreatedAt.IsZero() {
		t.Errorf("listed %+v", d)
	}
}
