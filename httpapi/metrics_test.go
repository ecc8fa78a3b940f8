package httpapi

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/auth"
	"github.com/mp3converter/mp3converter/internal/memory"
	"github.com/mp3converter/mp3converter/internal/metrics"
	"github.com/mp3converter/mp3converter/internal/testsupport"
)

// The gateway counts uploads' bytes, the accepted ones and each refusal by
// its reason, and times requests by route pattern and status class.
func TestUploadMetrics(t *testing.T) {
	g, _ := limitsGateway(memory.NewBlobs())
	g.Metrics = metrics.New()
	g.Uploads = NewUploadLimit(0, 0, nil)
	srv := httptest.NewServer(g.Handler())
	defer srv.Close()
	metricsSrv := httptest.NewServer(g.Metrics.Handler(g.Logger))
	defer metricsSrv.Close()

	send := func(req *http.Request, want int) {
		t.Helper()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s %s: %s, want %d", req.Method, req.URL, resp.Status, want)
		}
	}
	send(uploadRequest(t, srv.URL, bytes.Repeat([]byte("v"), 1000)), http.StatusAccepted)
	// Over MaxUpload (1 MiB), but under its slack: read until past the limit.
	send(uploadRequest(t, srv.URL, bytes.Repeat([]byte("v"), 3<<19)), http.StatusRequestEntityTooLarge)
	noToken := uploadRequest(t, srv.URL, []byte("v"))
	noToken.Header.Del("Authorization")
	send(noToken, http.StatusUnauthorized)
	notMultipart, _ := http.NewRequest("POST", srv.URL+"/upload", strings.NewReader("plain"))
	notMultipart.Header.Set("Authorization", "Bearer x")
	send(notMultipart, http.StatusBadRequest)
	g.Uploads.Total = 1
	release, _, _ := g.Uploads.acquire(context.Background(), "bob@example.com") // the one upload allowed, in progress
	send(uploadRequest(t, srv.URL, []byte("v")), http.StatusTooManyRequests)
	release()
	send(httptestRequest(t, "GET", srv.URL+"/no/such/route"), http.StatusNotFound)

	m := testsupport.Scrape(t, metricsSrv.URL)
	if got := m.Value("mp3converter_uploads_accepted_total"); got != 1 {
		t.Errorf("accepted %v, want 1", got)
	}
	// The accepted file's 1000 bytes, and what was read of the large one.
	if got := m.Value("mp3converter_upload_bytes_total"); got <= 1000+1<<20 || got > 1000+3<<19 {
		t.Errorf("upload bytes %v, want 1000 and over a MiB", got)
	}
	for _, reason := range []string{"too_large", "unauthorized", "bad_request", "throttled"} {
		if got := m.Value("mp3converter_uploads_refused_total", "reason", reason); got != 1 {
			t.Errorf("refused for %s: %v, want 1", reason, got)
		}
	}
	for _, s := range []struct {
		route, code string
		n           float64
	}{{"POST /upload", "2xx", 1}, {"POST /upload", "4xx", 4}, {"unmatched", "4xx", 1}} {
		if got := m.Value("mp3converter_http_request_duration_seconds_count", "route", s.route, "code", s.code); got != s.n {
			t.Errorf("requests to %s answered %s: %v, want %v", s.route, s.code, got, s.n)
		}
	}
}

func httptestRequest(t *testing.T, method, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// fakeLogin answers logins with err.
type fakeLogin struct{ err error }

func (f fakeLogin) Login(context.Context, string, string) (string, error) { return "token", f.err }

// A login counts once, by the process that decided it, under an outcome
// that does not tell an unknown account from a wrong password.
func TestLoginMetrics(t *testing.T) {
	m := metrics.New()
	th := NewThrottle("gateway", nil)
	th.PerAccount = 2
	for _, err := range []error{nil, auth.ErrInvalidCredentials, auth.ErrInvalidCredentials, auth.ErrInvalidCredentials} {
		req := httptest.NewRequest("POST", "/login", nil)
		req.SetBasicAuth("ann@example.com", "password")
		(&logins{auth: fakeLogin{err}, throttle: th, log: slog.New(slog.DiscardHandler), metrics: m}).serveHTTP(httptest.NewRecorder(), req)
	}
	(&logins{auth: fakeLogin{}, throttle: th, log: slog.New(slog.DiscardHandler), metrics: m}).serveHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/login", nil))
	srv := httptest.NewServer(m.Handler(slog.New(slog.DiscardHandler)))
	defer srv.Close()
	got := testsupport.Scrape(t, srv.URL)
	// The third failure is over the throttle's limit of 2: not checked.
	for outcome, want := range map[string]float64{"ok": 1, "invalid_credentials": 2, "throttled": 1, "missing_credentials": 1} {
		if v := got.Value("mp3converter_logins_total", "outcome", outcome); v != want {
			t.Errorf("logins %s: %v, want %v", outcome, v, want)
		}
	}

	remote := &AuthClient{}
	for _, c := range []struct {
		a    Authenticator
		err  error
		want bool
	}{
		{remote, nil, false},
		{remote, auth.ErrInvalidCredentials, false},
		{remote, auth.ErrMissingCredentials, false},
		{remote, tooMany(1), false}, // auth's throttle
		{remote, errors.Join(errThrottled, tooMany(1)), true},
		{remote, mp3converter.ErrUnavailable, true},
		{fakeLogin{}, nil, true},
		{fakeLogin{}, auth.ErrInvalidCredentials, true},
	} {
		if got := decidedHere(c.a, c.err); got != c.want {
			t.Errorf("decidedHere(%T, %v) = %v, want %v", c.a, c.err, got, c.want)
		}
	}
}

// The reasons and outcomes the gateway gives are the ones that metrics
// start at 0.
func TestMetricVocabulary(t *testing.T) {
	g := &Gateway{MaxUpload: 1, MaxJobsKept: 1}
	errs := []error{auth.ErrMissingCredentials, g.errTooLarge(), errTooManyUploads, g.errJobsKept(1), g.errTooSlow(), g.errStalled(), errAborted,
		mp3converter.ErrInsufficientStorage, errOneFile, mp3converter.ErrUnavailable, errors.New("bug"),
		auth.ErrInvalidCredentials, tooMany(1), context.Canceled, nil}
	for _, err := range errs {
		if err != nil && !slices.Contains(metrics.RefusalReasons, refusalReason(err)) {
			t.Errorf("refusal reason %q of %v is not in metrics.RefusalReasons", refusalReason(err), err)
		}
		if !slices.Contains(metrics.LoginOutcomes, loginOutcome(err)) {
			t.Errorf("login outcome %q of %v is not in metrics.LoginOutcomes", loginOutcome(err), err)
		}
	}
}
