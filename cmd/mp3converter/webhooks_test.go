package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter/app"

	"github.com/mp3converter/mp3converter/internal/testmedia"
	"github.com/mp3converter/mp3converter/internal/testsupport"
)

// hookReceiver is a webhook receiver on loopback. It answers 500 to its
// first fail requests, then 204.
type hookReceiver struct {
	mu   sync.Mutex
	fail int
	got  []hookRequest
	srv  *http.Server
	URL  string
}

type hookRequest struct {
	header http.Header
	body   []byte
}

// startReceiver listens on addr ("127.0.0.1:0" for any port).
func startReceiver(t *testing.T, addr string, fail int) *hookReceiver {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	rc := &hookReceiver{fail: fail, URL: "http://" + ln.Addr().String() + "/hook"}
	rc.srv = &http.Server{Handler: rc}
	go rc.srv.Serve(ln)
	t.Cleanup(func() { rc.srv.Close() })
	return rc
}

func (rc *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.got = append(rc.got, hookRequest{r.Header.Clone(), b})
	if len(rc.got) <= rc.fail {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// wait returns the first n requests once they have come.
func (rc *hookReceiver) wait(t *testing.T, n int, timeout time.Duration) []hookRequest {
	t.Helper()
	var got []hookRequest
	testsupport.Eventually(t, timeout, fmt.Sprintf("%d requests to the receiver", n), func() bool {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		got = append([]hookRequest(nil), rc.got...)
		return len(got) >= n
	})
	return got
}

// verify checks a request's signature as a receiver would, from the secret
// returned at registration: HMAC-SHA256 under the base64 key after whsec_,
// over id.timestamp.body.
func verify(t *testing.T, secret string, r hookRequest) {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil || !strings.HasPrefix(secret, "whsec_") || len(key) < 24 {
		t.Fatalf("secret %q is not whsec_ and 24+ bytes of base64", secret)
	}
	id, ts := r.header.Get("webhook-id"), r.header.Get("webhook-timestamp")
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(r.body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if got := r.header.Get("webhook-signature"); !hmac.Equal([]byte(got), []byte(want)) {
		t.Errorf("webhook-signature %q, want %q", got, want)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		t.Errorf("webhook-timestamp %q is not the time now in Unix seconds", ts)
	}
	if id == "" || r.header.Get("Content-Type") != "application/json" {
		t.Errorf("headers %v", r.header)
	}
}

type hookEvent struct {
	Type      string
	Timestamp time.Time
	Data      jobView
}

func decodeEvent(t *testing.T, r hookRequest) hookEvent {
	t.Helper()
	var ev hookEvent
	if err := json.Unmarshal(r.body, &ev); err != nil {
		t.Fatalf("event body %s: %v", r.body, err)
	}
	return ev
}

type webhookView struct {
	ID           string        `json:"id"`
	URL          string        `json:"url"`
	Secret       string        `json:"secret"`
	LastDelivery *deliveryView `json:"last_delivery"`
}

type deliveryView struct {
	ID, Event, Status string
	JobID             string `json:"job_id"`
	HTTPStatus        *int   `json:"http_status"`
	Attempts          int
	Error             *string
}

// addWebhook registers url and returns the answer's status and webhook.
func (c *client) addWebhook(url string) (int, webhookView, string) {
	c.t.Helper()
	body, _ := json.Marshal(map[string]string{"url": url})
	req := c.request("POST", "/webhooks", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	resp, b := do(c.t, req)
	var w webhookView
	if resp.StatusCode == http.StatusCreated {
		if err := json.Unmarshal(b, &w); err != nil {
			c.t.Fatal(err)
		}
	}
	return resp.StatusCode, w, string(b)
}

func (c *client) webhooks() []webhookView {
	c.t.Helper()
	var ws []webhookView
	c.getJSON("/webhooks", &ws)
	return ws
}

func (c *client) getJSON(path string, v any) {
	c.t.Helper()
	resp, b := do(c.t, c.request("GET", path, nil))
	if resp.StatusCode != 200 {
		c.t.Fatalf("GET %s: %s %s", path, resp.Status, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		c.t.Fatal(err)
	}
}

// waitDelivery polls GET /webhooks until the one webhook's last delivery
// satisfies ok.
func (c *client) waitDelivery(ok func(*deliveryView) bool, timeout time.Duration) *deliveryView {
	c.t.Helper()
	var d *deliveryView
	testsupport.Eventually(c.t, timeout, "the webhook's last delivery as wanted", func() bool {
		ws := c.webhooks()
		if len(ws) != 1 {
			c.t.Fatalf("%d webhooks, want 1", len(ws))
		}
		d = ws[0].LastDelivery
		return d != nil && ok(d)
	})
	return d
}

// fastWebhooks makes serve's webhook dispatcher poll every 50 ms and retry
// on backoff (its default schedule if none is given).
func fastWebhooks(backoff ...time.Duration) func(*app.Main) {
	return func(m *app.Main) { m.WebhookPoll, m.WebhookBackoff = 50*time.Millisecond, backoff }
}

// TestWebhookJobDone: a receiver on loopback (allowed by the flag) gets
// job.done with the job as GET /jobs/{id} shows it, signed so that the
// secret given at registration verifies it; GET /webhooks and its
// deliveries show it delivered.
func TestWebhookJobDone(t *testing.T) {
	cfg := testConfig(t)
	cfg.WebhookAllowPrivate = true
	srv := startServe(t, cfg, fastWebhooks())
	srv.addUser(t, "ann@example.com", "ann-password", false)
	c := login(t, srv.URL, "ann@example.com", "ann-password")
	rc := startReceiver(t, "127.0.0.1:0", 0)
	status, hook, body := c.addWebhook(rc.URL)
	if status != http.StatusCreated || hook.URL != rc.URL || hook.ID == "" {
		t.Fatalf("POST /webhooks: %d %s", status, body)
	}

	a := c.upload(testmedia.Make(t, testmedia.MP4, 2), "holiday.mp4")
	if j := c.waitJob(a.JobID, 60*time.Second); j.Status != "done" {
		t.Fatalf("job %s", j.Status)
	}
	got := rc.wait(t, 1, 30*time.Second)
	verify(t, hook.Secret, got[0])
	ev := decodeEvent(t, got[0])
	job, _ := c.job(a.JobID)
	if ev.Type != "job.done" || ev.Data.ID != a.JobID || ev.Data.Status != "done" || ev.Data.MP3FID == nil ||
		*ev.Data.MP3FID != *job.MP3FID || ev.Data.DownloadURL != job.DownloadURL || time.Since(ev.Timestamp) > time.Minute {
		t.Errorf("event %s", got[0].body)
	}
	d := c.waitDelivery(func(d *deliveryView) bool { return d.Status == "delivered" }, 10*time.Second)
	if d.Event != "job.done" || d.Attempts != 1 || d.HTTPStatus == nil || *d.HTTPStatus != 204 || d.Error != nil {
		t.Errorf("last delivery %+v", d)
	}
	var ds []deliveryView
	c.getJSON("/webhooks/"+hook.ID+"/deliveries", &ds)
	if len(ds) != 1 || ds[0].ID != got[0].header.Get("webhook-id") || ds[0].JobID != a.JobID {
		t.Errorf("deliveries %+v", ds)
	}
	if ws := c.webhooks(); ws[0].Secret != "" {
		t.Error("GET /webhooks shows the secret")
	}

	// Another user sees none of it.
	srv.addUser(t, "bob@example.com", "bob-password", false)
	bob := login(t, srv.URL, "bob@example.com", "bob-password")
	if ws := bob.webhooks(); len(ws) != 0 {
		t.Errorf("bob sees %d webhooks", len(ws))
	}
	if resp, _ := do(t, bob.request("GET", "/webhooks/"+hook.ID+"/deliveries", nil)); resp.StatusCode != 404 {
		t.Errorf("bob reads ann's deliveries: %s", resp.Status)
	}
	if resp, _ := do(t, bob.request("DELETE", "/webhooks/"+hook.ID, nil)); resp.StatusCode != 404 {
		t.Errorf("bob deletes ann's webhook: %s", resp.Status)
	}
	if resp, b := do(t, c.request("DELETE", "/webhooks/"+hook.ID, nil)); resp.StatusCode != 204 {
		t.Errorf("DELETE: %s %s", resp.Status, b)
	}
	if ws := c.webhooks(); len(ws) != 0 {
		t.Errorf("after DELETE, %d webhooks", len(ws))
	}
}

// TestWebhookRetries: a receiver that fails twice gets the event a third
// time, with the same webhook-id and body, each attempt signed anew. The
// event is job.failed, which the converter records.
func TestWebhookRetries(t *testing.T) {
	cfg := testConfig(t)
	cfg.WebhookAllowPrivate = true
	srv := startServe(t, cfg, fastWebhooks(100*time.Millisecond, 200*time.Millisecond, time.Hour))
	srv.addUser(t, "ann@example.com", "ann-password", false)
	c := login(t, srv.URL, "ann@example.com", "ann-password")
	rc := startReceiver(t, "127.0.0.1:0", 2)
	status, hook, body := c.addWebhook(rc.URL)
	if status != http.StatusCreated {
		t.Fatalf("POST /webhooks: %d %s", status, body)
	}

	a := c.upload(testmedia.Text(t), "notes.mp4")
	if j := c.waitJob(a.JobID, 60*time.Second); j.Status != "failed" {
		t.Fatalf("job %s", j.Status)
	}
	rc.wait(t, 3, 30*time.Second)
	time.Sleep(300 * time.Millisecond) // nothing more comes
	got := rc.wait(t, 3, 0)
	if len(got) != 3 {
		t.Fatalf("%d requests, want 3", len(got))
	}
	id := got[0].header.Get("webhook-id")
	for i, r := range got {
		verify(t, hook.Secret, r)
		if r.header.Get("webhook-id") != id || string(r.body) != string(got[0].body) {
			t.Errorf("attempt %d: webhook-id %q body %s; want %q and the first body", i+1, r.header.Get("webhook-id"), r.body, id)
		}
	}
	if ev := decodeEvent(t, got[0]); ev.Type != "job.failed" || ev.Data.ID != a.JobID || ev.Data.Status != "failed" || ev.Data.Error == nil {
		t.Errorf("event %s", got[0].body)
	}
	d := c.waitDelivery(func(d *deliveryView) bool { return d.Status == "delivered" }, 10*time.Second)
	if d.ID != id || d.Event != "job.failed" || d.Attempts != 3 || *d.HTTPStatus != 204 {
		t.Errorf("last delivery %+v", d)
	}
}

// TestWebhookPrivateRefused: without --webhook-allow-private, a URL that
// is or resolves to a non-public address is refused at registration, as
// are other schemes and URLs with credentials. The IPv6 rows were accepted
// (201) by the hand-written list that code.dny.dev/ssrf's tables replaced.
func TestWebhookPrivateRefused(t *testing.T) {
	srv := startServe(t, testConfig(t))
	srv.addUser(t, "ann@example.com", "ann-password", false)
	c := login(t, srv.URL, "ann@example.com", "ann-password")
	for _, tt := range []struct{ url, want string }{
		{"http://127.0.0.1:9/hook", "loopback"},
		{"http://localhost:9/hook", "localhost resolves to"},
		{"http://[::1]/", "loopback"},
		{"http://[::ffff:127.0.0.1]/", "loopback"},
		{"http://10.0.0.8/", "private"},
		{"http://192.168.1.1/", "private"},
		{"http://169.254.169.254/latest/meta-data/", "link-local"},
		{"http://100.64.0.1/", "special-purpose (100.64.0.0/10)"},
		{"http://0.0.0.0:8080/", "unspecified"},
		{"http://239.0.0.1/", "multicast"},
		// IPv6 encodings of private addresses, and special-purpose IPv6.
		{"http://[::ffff:0:127.0.0.1]/", "the URL's host is a non-global (outside 2000::/3) address"},
		{"http://[::ffff:0:a9fe:a9fe]/", "the URL's host is a non-global (outside 2000::/3) address"},
		{"http://[5f00::1]/", "the URL's host is a non-global (outside 2000::/3) address"},
		{"http://[2001:2::1]/", "the URL's host is a special-purpose (2001::/23) address"},
		{"http://[2001:10::1]/", "the URL's host is a special-purpose (2001::/23) address"},
		{"http://[2001:20::1]/", "the URL's host is a special-purpose (2001::/23) address"},
		{"ftp://example.com/", "http:// or https://"},
		{"https://user:pass@example.com/", "user name or password"},
		{"", "want a JSON body"},
	} {
		status, _, body := c.addWebhook(tt.url)
		if status != http.StatusBadRequest || !strings.Contains(body, tt.want) {
			t.Errorf("POST /webhooks %q: %d %q, want 400 with %q", tt.url, status, body, tt.want)
		}
	}
	if ws := c.webhooks(); len(ws) != 0 {
		t.Errorf("%d webhooks registered", len(ws))
	}
}

// TestWebhookDialRefused: a webhook to loopback registered while the flag
// was set is refused when connecting once it is unset: the dialer checks
// the address it connects to, whatever the URL said at registration.
func TestWebhookDialRefused(t *testing.T) {
	cfg := testConfig(t)
	cfg.WebhookAllowPrivate = true
	fast := fastWebhooks(time.Hour)
	srv := startServe(t, cfg, fast)
	srv.addUser(t, "ann@example.com", "ann-password", false)
	rc := startReceiver(t, "127.0.0.1:0", 0)
	if status, _, body := login(t, srv.URL, "ann@example.com", "ann-password").addWebhook(rc.URL); status != http.StatusCreated {
		t.Fatalf("POST /webhooks: %d %s", status, body)
	}
	srv.Close()

	cfg.WebhookAllowPrivate = false
	srv = startServe(t, cfg, fast)
	c := login(t, srv.URL, "ann@example.com", "ann-password")
	a := c.upload(testmedia.Text(t), "notes.mp4")
	c.waitJob(a.JobID, 60*time.Second)
	d := c.waitDelivery(func(d *deliveryView) bool { return d.Attempts > 0 }, 30*time.Second)
	if d.Status != "pending" || d.Error == nil || !strings.Contains(*d.Error, "webhook target refused: 127.0.0.1 is a loopback address") {
		t.Errorf("last delivery %+v, %v", d, deref(d.Error))
	}
	if n := len(rc.wait(t, 0, 0)); n != 0 {
		t.Errorf("the receiver got %d requests", n)
	}
}

// TestWebhookSurvivesRestart: an event whose receiver is down is kept in
// the database across a restart of serve, and delivered afterwards with
// the webhook-id it had.
func TestWebhookSurvivesRestart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // the receiver is down: connections are refused

	cfg := testConfig(t)
	cfg.WebhookAllowPrivate = true
	fast := fastWebhooks(300*time.Millisecond, 300*time.Millisecond, 300*time.Millisecond,
		300*time.Millisecond, 300*time.Millisecond, 300*time.Millisecond, time.Hour)
	srv := startServe(t, cfg, fast)
	srv.addUser(t, "ann@example.com", "ann-password", false)
	c := login(t, srv.URL, "ann@example.com", "ann-password")
	status, hook, body := c.addWebhook("http://" + addr + "/hook")
	if status != http.StatusCreated {
		t.Fatalf("POST /webhooks: %d %s", status, body)
	}
	a := c.upload(testmedia.Make(t, testmedia.MP4, 2), "holiday.mp4")
	c.waitJob(a.JobID, 60*time.Second)
	before := c.waitDelivery(func(d *deliveryView) bool { return d.Attempts > 0 }, 30*time.Second)
	if before.Status != "pending" || before.Error == nil || before.HTTPStatus != nil {
		t.Errorf("with the receiver down: %+v", before)
	}
	srv.Close()

	rc := startReceiver(t, addr, 0)
	srv = startServe(t, cfg, fast)
	c = login(t, srv.URL, "ann@example.com", "ann-password")
	got := rc.wait(t, 1, 30*time.Second)
	verify(t, hook.Secret, got[0])
	if id := got[0].header.Get("webhook-id"); id != before.ID {
		t.Errorf("webhook-id %q after the restart, %q before", id, before.ID)
	}
	if ev := decodeEvent(t, got[0]); ev.Type != "job.done" || ev.Data.ID != a.JobID {
		t.Errorf("event %s", got[0].body)
	}
	after := c.waitDelivery(func(d *deliveryView) bool { return d.Status == "delivered" }, 10*time.Second)
	if after.ID != before.ID || after.Attempts <= before.Attempts || after.Error != nil {
		t.Errorf("after the restart: %+v; before: %+v", after, before)
	}
}
