package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/auth"
	"github.com/mp3converter/mp3converter/internal/metrics"
)

// Authenticator signs users in: the auth service in this process, or
// AuthClient calling it over HTTP.
type Authenticator interface {
	// Login returns a token. Errors: auth.ErrMissingCredentials,
	// auth.ErrInvalidCredentials, or others.
	Login(ctx context.Context, email, password string) (string, error)
}

// Verifier checks tokens.
type Verifier interface {
	// Verify returns a token's claims; errors are EUNAUTHORIZED for bad
	// tokens.
	Verify(ctx context.Context, token string) (*auth.Claims, error)
}

// Revoker ends an account's sessions, for POST /logout.
type Revoker interface {
	// Revoke makes every token issued to the account named username until
	// now invalid. Errors: mp3converter.ErrNotFound if there is no such
	// account, or others.
	Revoke(ctx context.Context, username string) error
}

var (
	_ Authenticator = (*auth.Service)(nil)
	_ Verifier      = (*auth.Service)(nil)
	_ Revoker       = (*auth.Service)(nil)
	_ Authenticator = (*AuthClient)(nil)
)

// logins serve POST /login: HTTP Basic in, the raw JWT out, or, with a
// session (the gateway's, for its web page) and the header
// "X-Session: cookie", the JWT in an HttpOnly cookie and the claims out.
// Failed logins count against the account and the client's address, or
// against the client's device cookie of the account; past the throttle's
// limits the answer is 429 with Retry-After, before any password is
// checked. A login issues a new device cookie. Each outcome is counted
// once, by the process that decided it (see decidedHere).
type logins struct {
	auth     Authenticator
	throttle *Throttle
	proxies  Proxies
	sessions *sessions // nil: no cookie sessions (the auth service)
	devices  *Devices
	log      *slog.Logger
	metrics  *metrics.Metrics
}

func (l *logins) serveHTTP(w http.ResponseWriter, r *http.Request) {
	log, m := l.log, l.metrics
	w.Header().Set("Cache-Control", "no-store")
	// The page asks no Basic challenge: a browser would answer it with
	// its own password dialog.
	page := l.sessions != nil && r.Header.Get("X-Session") == "cookie"
	email, password, ok := r.BasicAuth()
	if !ok {
		if !page {
			w.Header().Set("WWW-Authenticate", `Basic realm="mp3converter", charset="UTF-8"`)
		}
		m.Login(loginOutcome(auth.ErrMissingCredentials))
		Error(w, r, log, auth.ErrMissingCredentials)
		return
	}
	addr := l.proxies.ClientAddr(r)
	account := mp3converter.Owner(email) // an address that does not normalise still counts
	device := l.devices.ID(r, account)
	ctx := withClient(r.Context(), addr, deviceCookies(r))
	token, err := login(ctx, l.auth, l.throttle, LoginKeys(account, addr, device), account, email, password)
	if decidedHere(l.auth, err) {
		m.Login(loginOutcome(err))
	}
	if errors.Is(err, errThrottled) {
		log.Warn("LoginThrottled", "request_id", requestID(r.Context()), "account", truncate(email, 254), "client", addr, "device", device != "")
	}
	if errors.Is(err, auth.ErrInvalidCredentials) {
		// Never the password; the account as typed, cut short.
		log.Warn("LoginFailed", "request_id", requestID(r.Context()), "account", truncate(email, 254), "client", addr, "device", device != "")
	}
	if err != nil {
		if mp3converter.ErrorCode(err) == mp3converter.EUNAUTHORIZED && !page {
			w.Header().Set("WWW-Authenticate", `Basic realm="mp3converter", charset="UTF-8"`)
		}
		Error(w, r, log, err)
		return
	}
	l.devices.Issue(w, account, r.TLS != nil || l.sessions != nil && l.sessions.https(r))
	if page {
		l.sessions.start(w, r, token)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, token)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// loginOutcome names a login's outcome, for metrics. A wrong password and
// an unknown account are one outcome, as they are one answer: /metrics may
// be public, and telling them apart there would show which accounts exist.
func loginOutcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, auth.ErrInvalidCredentials):
		return "invalid_credentials"
	case errors.Is(err, auth.ErrMissingCredentials):
		return "missing_credentials"
	case mp3converter.ErrorCode(err) == mp3converter.ETOOMANY:
		return "throttled"
	case mp3converter.ErrorCode(err) == mp3converter.EUNAVAILABLE:
		return "unavailable"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "canceled" // the client gave up waiting for a turn
	default:
		return "error"
	}
}

// decidedHere reports whether this process decided a login's outcome: a
// gateway that forwards logins to auth leaves the answers auth gave to
// auth's count, and counts only its own throttle's refusals and auth being
// unreachable, so that a login counts once across the processes.
func decidedHere(a Authenticator, err error) bool {
	if _, remote := a.(*AuthClient); !remote || errors.Is(err, errThrottled) {
		return true
	}
	switch mp3converter.ErrorCode(err) {
	case mp3converter.EUNAUTHORIZED, mp3converter.ETOOMANY:
		return false
	}
	return err != nil
}

// errThrottled marks a login refused by the throttle.
var errThrottled = errors.New("throttled")

// login checks a password within the throttle's limits: the attempt is
// reserved against keys before the check and waits for a turn among the
// checks running.
func login(ctx context.Context, a Authenticator, t *Throttle, keys []string, account, email, password string) (string, error) {
	if t == nil {
		return a.Login(ctx, email, password)
	}
	attempt, wait, err := t.Reserve(ctx, keys...)
	if err != nil {
		return "", fmt.Errorf("login throttle: %w", err)
	}
	if attempt == nil {
		return "", fmt.Errorf("%w: %w", errThrottled, tooMany(wait))
	}
	end, err := t.Check(ctx, account)
	if err != nil {
		attempt.Cancel()
		return "", err
	}
	token, err := a.Login(ctx, email, password)
	end()
	switch {
	case err == nil:
		attempt.Succeeded()
	case !errors.Is(err, auth.ErrInvalidCredentials):
		attempt.Cancel() // not the password's fault: an outage, say
	}
	return token, err
}

// validateHandler serves POST /validate: a Bearer token in, its claims out.
func validateHandler(v Verifier, log *slog.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		claims, err := authenticate(r, v)
		if err != nil {
			Error(w, r, log, err)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusOK, claims)
	}
}

var errMalformedAuth = mp3converter.Errorf(mp3converter.EUNAUTHORIZED, "malformed Authorization header: want \"Bearer <token>\"")

// authenticate checks the request's Bearer token or, without an
// Authorization header, the web page's session cookie. A state-changing
// request signed in by cookie must also come from the page itself (see
// sameOrigin): the browser sends the cookie with any site's form.
func authenticate(r *http.Request, v Verifier) (*auth.Claims, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		c, err := r.Cookie(sessionCookie)
		if err != nil || c.Value == "" || len(c.Value) > 4096 {
			return nil, auth.ErrMissingCredentials
		}
		if stateChanging(r.Method) && !sameOrigin(r) {
			return nil, errCrossSite
		}
		return v.Verify(r.Context(), c.Value)
	}
	scheme, token, ok := strings.Cut(h, " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" || len(token) > 4096 {
		return nil, errMalformedAuth
	}
	return v.Verify(r.Context(), token)
}

// AuthServer serves the auth role's routes: /login and /validate, and
// health checks.
type AuthServer struct {
	Service  *auth.Service
	Throttle *Throttle
	Proxies  Proxies // whose X-Forwarded-For to believe: the gateways
	Devices  *Devices
	Checks   []Check
	Logger   *slog.Logger
	Metrics  *metrics.Metrics // nil counts nothing
}

// Handler returns the routes.
func (a *AuthServer) Handler() http.Handler {
	mux := http.NewServeMux()
	l := &logins{auth: a.Service, throttle: a.Throttle, proxies: a.Proxies, devices: a.Devices, log: a.Logger, metrics: a.Metrics}
	mux.HandleFunc("POST /login", l.serveHTTP)
	mux.HandleFunc("POST /validate", validateHandler(a.Service, a.Logger))
	mux.HandleFunc("GET /healthz", healthz)
	mux.HandleFunc("GET /readyz", readyz(a.Checks, a.Logger))
	return Middleware(mux, a.Logger, a.Metrics)
}

// AuthClient forwards logins to the auth service over HTTP, as the seed's
// gateway does.
type AuthClient struct {
	// Addr is the auth service's host:port (AUTH_SVC_ADDRESS) or base URL.
	Addr   string
	Client *http.Client
}

func (c *AuthClient) base() string {
	if strings.Contains(c.Addr, "://") {
		return strings.TrimRight(c.Addr, "/")
	}
	return "http://" + c.Addr
}

// Login implements Authenticator.
func (c *AuthClient) Login(ctx context.Context, email, password string) (string, error) {
	client := c.Client
	if client == nil {
		client = &http.Client{Timeout: 15 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base()+"/login", nil)
	if err != nil {
		return "", err
	}
	req.SetBasicAuth(email, password)
	addr, cookies := clientFrom(ctx)
	if addr != "" {
		req.Header.Set("X-Forwarded-For", addr)
	}
	// The client's device cookie, so that auth's throttle knows it too.
	for _, c := range cookies {
		req.AddCookie(c)
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("auth service %s: %w: %w", c.Addr, mp3converter.ErrUnavailable, stripURL(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<10))
	if err != nil {
		return "", fmt.Errorf("auth service %s: %w: %w", c.Addr, mp3converter.ErrUnavailable, err)
	}
	text := strings.TrimSpace(string(body))
	switch {
	case resp.StatusCode == http.StatusOK:
		return text, nil
	case resp.StatusCode == http.StatusUnauthorized && text == auth.ErrMissingCredentials.Message:
		return "", auth.ErrMissingCredentials
	case resp.StatusCode == http.StatusUnauthorized:
		return "", auth.ErrInvalidCredentials
	case resp.StatusCode == http.StatusTooManyRequests:
		secs, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		return "", &retryAfterError{err: &mp3converter.Error{Code: mp3converter.ETOOMANY, Message: text}, after: time.Duration(secs) * time.Second}
	default:
		return "", fmt.Errorf("auth service %s answered %s: %w", c.Addr, resp.Status, mp3converter.ErrUnavailable)
	}
}

// stripURL drops the method and URL that an http.Client error repeats:
// the message already names the auth service.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
