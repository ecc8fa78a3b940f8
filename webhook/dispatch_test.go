package webhook

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/internal/testsupport"
)

// receiver records what it is sent and answers with the statuses given,
// the last one repeating.
type receiver struct {
	mu       sync.Mutex
	statuses []int
	got      []*http.Request
	bodies   [][]byte
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	n := len(rc.got)
	rc.got, rc.bodies = append(rc.got, r), append(rc.bodies, b)
	w.WriteHeader(rc.statuses[min(n, len(rc.statuses)-1)])
}

func (rc *receiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.got)
}

type fixture struct {
	store  mp3converter.WebhookStore
	events *Events
	hook   *mp3converter.Webhook
}

func newFixture(t *testing.T, url string) *fixture {
	t.Helper()
	store := testsupport.SQLite(t).Webhooks
	hook := &mp3converter.Webhook{ID: mp3converter.NewID(), Owner: "ann@example.com", URL: url, Secret: NewSecret()}
	if err := store.CreateWebhook(context.Background(), hook); err != nil {
		t.Fatal(err)
	}
	events := &Events{Store: store, Logger: slog.New(slog.DiscardHandler),
		JobJSON: func(j *mp3converter.Job) any { return map[string]string{"id": j.ID, "status": string(j.Status)} }}
	return &fixture{store: store, events: events, hook: hook}
}

func (f *fixture) dispatch(t *testing.T, backoff ...time.Duration) {
	d := &Dispatcher{Store: f.store, Client: (&Guard{AllowPrivate: true}).Client(Timeout), Backoff: backoff,
		Poll: 10 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func (f *fixture) last(t *testing.T) *mp3converter.WebhookDelivery {
	t.Helper()
	ds, err := f.store.ListDeliveries(context.Background(), f.hook.ID, 10)
	if err != nil || len(ds) != 1 {
		t.Fatalf("deliveries: %v, %d", err, len(ds))
	}
	return ds[0]
}

// TestRetriesThenGivesUp: every attempt of one event has its id and body,
// a fresh valid signature, and the delivery fails once the backoff runs out.
func TestRetriesThenGivesUp(t *testing.T) {
	rc := &receiver{statuses: []int{500, 503, 404}}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	f := newFixture(t, srv.URL+"/hook")
	job := &mp3converter.Job{ID: mp3converter.NewID(), Owner: "ann@example.com", Status: mp3converter.JobFailed}
	if err := f.events.JobFinished(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	f.dispatch(t, 20*time.Millisecond, 20*time.Millisecond)
	testsupport.Eventually(t, 10*time.Second, "the delivery to fail", func() bool { return f.last(t).Status == mp3converter.DeliveryFailed })
	d := f.last(t)
	if d.Attempts != 3 || d.HTTPStatus != 404 || d.Error != "HTTP 404" || rc.count() != 3 {
		t.Errorf("delivery %+v after %d requests", d, rc.count())
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for i, r := range rc.got {
		ts := r.Header.Get("webhook-timestamp")
		var sec int64
		json.Unmarshal([]byte(ts), &sec)
		want, _ := Sign(f.hook.Secret, d.ID, sec, rc.bodies[i])
		if r.Header.Get("webhook-id") != d.ID || r.Header.Get("webhook-signature") != want || string(rc.bodies[i]) != string(rc.bodies[0]) {
			t.Errorf("attempt %d: id %q signature %q body %s", i+1, r.Header.Get("webhook-id"), r.Header.Get("webhook-signature"), rc.bodies[i])
		}
	}
	var ev struct {
		Type string
		Data struct{ ID string }
	}
	if err := json.Unmarshal(rc.bodies[0], &ev); err != nil || ev.Type != "job.failed" || ev.Data.ID != job.ID {
		t.Errorf("body %s", rc.bodies[0])
	}
}

// TestJobFinishedOnce: the event of a job is recorded once, however often
// its end is told; a job that has not ended records none.
func TestJobFinishedOnce(t *testing.T) {
	f := newFixture(t, "https://hooks.example.com/")
	ctx := context.Background()
	job := &mp3converter.Job{ID: mp3converter.NewID(), Owner: "ann@example.com", Status: mp3converter.JobProcessing}
	if err := f.events.JobFinished(ctx, job); err != nil {
		t.Fatal(err)
	}
	if ds, _ := f.store.ListDeliveries(ctx, f.hook.ID, 10); len(ds) != 0 {
		t.Fatalf("a processing job recorded %d events", len(ds))
	}
	job.Status = mp3converter.JobDone
	for range 2 {
		if err := f.events.JobFinished(ctx, job); err != nil {
			t.Fatal(err)
		}
	}
	if d := f.last(t); d.Event != "job.done" || d.JobID != job.ID {
		t.Errorf("recorded %+v", d)
	}
	other := &mp3converter.Job{ID: mp3converter.NewID(), Owner: "bob@example.com", Status: mp3converter.JobDone}
	if err := f.events.JobFinished(ctx, other); err != nil {
		t.Fatal(err)
	}
	f.last(t) // still one: bob has no webhook
}
