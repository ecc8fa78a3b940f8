package httpapi

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/auth"
	"github.com/mp3converter/mp3converter/internal/memory"
)

// oneUser signs in ann with her password and knows her one token, valid
// for an hour.
type oneUser struct{}

const annToken = "ann-token"

func (oneUser) Login(_ context.Context, email, password string) (string, error) {
	if email != "ann@example.com" || password != "pw" {
		return "", auth.ErrInvalidCredentials
	}
	return annToken, nil
}

func (oneUser) Verify(_ context.Context, token string) (*auth.Claims, error) {
	if token != annToken {
		return nil, mp3converter.Errorf(mp3converter.EUNAUTHORIZED, "invalid token")
	}
	return &auth.Claims{Username: "ann@example.com", SiteAdmin: true,
		RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))}}, nil
}

// webJobs adds the reads that the page's routes use to memJobs.
type webJobs struct{ *memJobs }

func (m webJobs) Job(_ context.Context, id string) (*mp3converter.Job, error) {
	if j, ok := m.jobs[id]; ok {
		return j, nil
	}
	return nil, mp3converter.ErrNotFound
}

func (m webJobs) ListJobs(context.Context, mp3converter.JobFilter) ([]*mp3converter.Job, error) {
	return nil, nil
}

func webGateway() (*Gateway, webJobs) {
	g, mem := limitsGateway(memory.NewBlobs())
	jobs := webJobs{mem}
	g.Auth, g.Tokens, g.Jobs = oneUser{}, oneUser{}, jobs
	g.Proxies, _ = ParseProxies("10.0.0.0/8")
	return g, jobs
}

func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// A cookie login sets an HttpOnly, SameSite=Strict cookie for the token's
// lifetime, Secure only over HTTPS or behind a trusted proxy saying so, and
// the body shows the claims, never the token. A Bearer client's login is
// unchanged.
func TestCookieLogin(t *testing.T) {
	g, _ := webGateway()
	h := g.Handler()
	for _, tc := range []struct {
		name   string
		setup  func(r *http.Request)
		secure bool
	}{
		{"http", func(r *http.Request) {}, false},
		{"https", func(r *http.Request) { r.TLS = &tls.ConnectionState{} }, true},
		{"trusted proxy, https", func(r *http.Request) { r.RemoteAddr = "10.1.2.3:5000"; r.Header.Set("X-Forwarded-Proto", "https") }, true},
		{"trusted proxy, http", func(r *http.Request) { r.RemoteAddr = "10.1.2.3:5000"; r.Header.Set("X-Forwarded-Proto", "http") }, false},
		{"untrusted peer claiming https", func(r *http.Request) { r.RemoteAddr = "192.0.2.1:5000"; r.Header.Set("X-Forwarded-Proto", "https") }, false},
	} {
		r := httptest.NewRequest("POST", "/login", nil)
		r.SetBasicAuth("ann@example.com", "pw")
		r.Header.Set("X-Session", "cookie")
		tc.setup(r)
		w := serve(h, r)
		if w.Code != 200 {
			t.Fatalf("%s: %d %s", tc.name, w.Code, w.Body)
		}
		cookies := w.Result().Cookies()
		if len(cookies) != 1 {
			t.Fatalf("%s: cookies %v", tc.name, cookies)
		}
		c := cookies[0]
		if c.Name != sessionCookie || c.Value != annToken || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Secure != tc.secure {
			t.Errorf("%s: cookie %s", tc.name, w.Header().Get("Set-Cookie"))
		}
		if c.MaxAge < 3590 || c.MaxAge > 3600 {
			t.Errorf("%s: Max-Age %d, want the token's hour", tc.name, c.MaxAge)
		}
		var body map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || strings.Contains(w.Body.String(), annToken) ||
			body["username"] != "ann@example.com" || body["mp3converter_admin"] != true {
			t.Errorf("%s: body %s", tc.name, w.Body)
		}
	}

	r := httptest.NewRequest("POST", "/login", nil)
	r.SetBasicAuth("ann@example.com", "pw")
	w := serve(h, r)
	if w.Code != 200 || w.Body.String() != annToken || w.Header().Get("Set-Cookie") != "" {
		t.Errorf("Bearer login: %d %q cookie %q", w.Code, w.Body, w.Header().Get("Set-Cookie"))
	}

	// A wrong password from the page: no Basic challenge, which would make
	// the browser show its own dialog.
	r = httptest.NewRequest("POST", "/login", nil)
	r.SetBasicAuth("ann@example.com", "wrong")
	r.Header.Set("X-Session", "cookie")
	w = serve(h, r)
	if w.Code != 401 || strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Basic") || w.Header().Get("Set-Cookie") != "" {
		t.Errorf("bad page login: %d %v", w.Code, w.Header())
	}
}

// A state-changing request signed in by cookie needs X-CSRF and, when the
// browser names them, the same origin; reads and Bearer requests do not.
func TestCSRF(t *testing.T) {
	g, jobs := webGateway()
	h := g.Handler()
	job := func() string {
		j := &mp3converter.Job{ID: mp3converter.NewID(), Owner: "ann@example.com", VideoFID: mp3converter.NewID()}
		jobs.CreateJob(context.Background(), j)
		return j.ID
	}
	cookie := &http.Cookie{Name: sessionCookie, Value: annToken}
	for _, tc := range []struct {
		name    string
		headers map[string]string
		bearer  bool
		want    int
	}{
		{"cookie without X-CSRF", nil, false, 403},
		{"cookie, X-CSRF, cross-site Origin", map[string]string{"X-CSRF": "1", "Origin": "http://evil.example"}, false, 403},
		{"cookie, X-CSRF, Origin of another port", map[string]string{"X-CSRF": "1", "Origin": "http://example.com:8080"}, false, 403},
		{"cookie, X-CSRF, Origin null", map[string]string{"X-CSRF": "1", "Origin": "null"}, false, 403},
		{"cookie, X-CSRF, Sec-Fetch-Site same-site", map[string]string{"X-CSRF": "1", "Sec-Fetch-Site": "same-site"}, false, 403},
		{"cookie, X-CSRF", map[string]string{"X-CSRF": "1"}, false, 204},
		{"cookie, X-CSRF, same origin", map[string]string{"X-CSRF": "1", "Origin": "http://example.com", "Sec-Fetch-Site": "same-origin"}, false, 204},
		{"Bearer, cross-site, no X-CSRF", map[string]string{"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}, true, 204},
	} {
		id := job()
		r := httptest.NewRequest("DELETE", "/jobs/"+id, nil) // Host example.com
		for k, v := range tc.headers {
			r.Header.Set(k, v)
		}
		if tc.bearer {
			r.Header.Set("Authorization", "Bearer "+annToken)
		} else {
			r.AddCookie(cookie)
		}
		w := serve(h, r)
		if w.Code != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, w.Code, w.Body, tc.want)
		}
		_, err := jobs.Job(context.Background(), id)
		if deleted := err != nil; deleted != (tc.want == 204) {
			t.Errorf("%s: job deleted %v", tc.name, deleted)
		}
		if tc.want == 403 && strings.TrimSpace(w.Body.String()) != "cross-site request refused" {
			t.Errorf("%s: body %q", tc.name, w.Body)
		}
	}

	// Reads need no proof of origin; a bad cookie is 401.
	r := httptest.NewRequest("GET", "/jobs", nil)
	r.AddCookie(cookie)
	if w := serve(h, r); w.Code != 200 {
		t.Errorf("GET /jobs by cookie: %d %s", w.Code, w.Body)
	}
	r = httptest.NewRequest("GET", "/jobs", nil)
	r.AddCookie(&http.Cookie{Name: sessionCookie, Value: "forged"})
	if w := serve(h, r); w.Code != 401 {
		t.Errorf("GET /jobs by a bad cookie: %d", w.Code)
	}
	// The Authorization header wins over the cookie.
	r = httptest.NewRequest("GET", "/jobs", nil)
	r.AddCookie(cookie)
	r.Header.Set("Authorization", "Bearer forged")
	if w := serve(h, r); w.Code != 401 {
		t.Errorf("GET /jobs by a bad Bearer and a good cookie: %d", w.Code)
	}
}

// revoker records whom it revoked, failing with err.
type revoker struct {
	revoked []string
	err     error
}

func (r *revoker) Revoke(_ context.Context, username string) error {
	r.revoked = append(r.revoked, username)
	return r.err
}

// Logout revokes the account's tokens when it carries a valid one, Bearer
// or cookie, and clears the cookie in any case. A cookie, or no token, needs
// the page's proof of origin; Basic credentials, which a browser may attach
// to another site's form, are no proof.
func TestLogout(t *testing.T) {
	for _, tc := range []struct {
		name    string
		setup   func(r *http.Request)
		err     error // the revoker's
		status  int
		revoked bool
	}{
		{"cookie without X-CSRF", func(r *http.Request) { r.AddCookie(&http.Cookie{Name: sessionCookie, Value: annToken}) }, nil, 403, false},
		{"cookie", func(r *http.Request) {
			r.AddCookie(&http.Cookie{Name: sessionCookie, Value: annToken})
			r.Header.Set("X-CSRF", "1")
		}, nil, 204, true},
		{"cookie from another origin", func(r *http.Request) {
			r.AddCookie(&http.Cookie{Name: sessionCookie, Value: annToken})
			r.Header.Set("X-CSRF", "1")
			r.Header.Set("Origin", "https://evil.example")
		}, nil, 403, false},
		{"bad cookie", func(r *http.Request) {
			r.AddCookie(&http.Cookie{Name: sessionCookie, Value: "forged"})
			r.Header.Set("X-CSRF", "1")
		}, nil, 204, false},
		{"nothing", func(r *http.Request) { r.Header.Set("X-CSRF", "1") }, nil, 204, false},
		{"Bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+annToken) }, nil, 204, true},
		{"bad Bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer forged") }, nil, 204, false},
		{"Basic without X-CSRF", func(r *http.Request) { r.SetBasicAuth("ann@example.com", "pw") }, nil, 403, false},
		{"account deleted meanwhile", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+annToken) }, mp3converter.ErrNotFound, 204, true},
		{"store down", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+annToken) }, mp3converter.ErrUnavailable, 503, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, _ := webGateway()
			rv := &revoker{err: tc.err}
			g.Revoker = rv
			r := httptest.NewRequest("POST", "/logout", nil)
			tc.setup(r)
			w := serve(g.Handler(), r)
			if w.Code != tc.status {
				t.Errorf("status %d, want %d (%s)", w.Code, tc.status, w.Body)
			}
			if got := len(rv.revoked) == 1 && rv.revoked[0] == "ann@example.com"; got != tc.revoked || len(rv.revoked) > 1 {
				t.Errorf("revoked %q, want ann's: %v", rv.revoked, tc.revoked)
			}
			cookies := w.Result().Cookies()
			if tc.status == 403 {
				if len(cookies) != 0 {
					t.Errorf("a refused logout set %q", w.Header().Get("Set-Cookie"))
				}
				return
			}
			// The cookie goes even when the tokens could not be revoked.
			if len(cookies) != 1 || cookies[0].Name != sessionCookie || cookies[0].Value != "" || cookies[0].MaxAge >= 0 ||
				!cookies[0].HttpOnly || cookies[0].SameSite != http.SameSiteStrictMode ||
				!strings.Contains(w.Header().Get("Set-Cookie"), "Max-Age=0") {
				t.Errorf("logout cookie %q", w.Header().Get("Set-Cookie"))
			}
		})
	}

	// Without a Revoker, logout only clears the cookie.
	g, _ := webGateway()
	r := httptest.NewRequest("POST", "/logout", nil)
	r.Header.Set("Authorization", "Bearer "+annToken)
	if w := serve(g.Handler(), r); w.Code != 204 || !strings.Contains(w.Header().Get("Set-Cookie"), "Max-Age=0") {
		t.Errorf("logout without a Revoker: %d %q", w.Code, w.Header().Get("Set-Cookie"))
	}
}

// The page and its files are served to anyone, with the page's CSP and
// their right types; the page has no inline script or style for the CSP to
// block, and refers only to files that exist.
func TestPage(t *testing.T) {
	g, _ := webGateway()
	g.Logger = slog.New(slog.DiscardHandler)
	h := g.Handler()
	for path, ctype := range map[string]string{
		"/":                 "text/html; charset=utf-8",
		"/static/app.js":    "text/javascript; charset=utf-8",
		"/static/style.css": "text/css; charset=utf-8",
		"/static/icon.svg":  "image/svg+xml",
	} {
		w := serve(h, httptest.NewRequest("GET", path, nil))
		if w.Code != 200 || w.Header().Get("Content-Type") != ctype || w.Header().Get("Content-Security-Policy") != pageCSP ||
			w.Header().Get("X-Content-Type-Options") != "nosniff" || w.Body.Len() == 0 {
			t.Errorf("GET %s: %d %v", path, w.Code, w.Header())
		}
		r := httptest.NewRequest("GET", path, nil)
		r.Header.Set("If-None-Match", w.Header().Get("ETag"))
		if w := serve(h, r); w.Code != 304 {
			t.Errorf("GET %s again: %d, want 304", path, w.Code)
		}
	}
	for _, path := range []string{"/static/nope.js", "/static/", "/nope", "/static/../auth.go"} {
		if w := serve(h, httptest.NewRequest("GET", path, nil)); w.Code != 404 && w.Code/100 != 3 { // 3xx: to the cleaned path
			t.Errorf("GET %s: %d", path, w.Code)
		}
	}
	if !strings.Contains(pageCSP, "script-src 'self';") || strings.Contains(pageCSP, "unsafe") {
		t.Errorf("CSP %q", pageCSP)
	}
	page := string(webFiles["index.html"].body)
	if regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]`).MatchString(page) || regexp.MustCompile(`\sstyle=|<style|\son[a-z]+=`).MatchString(page) {
		t.Error("index.html has inline script, style or event handlers, which the CSP blocks")
	}
	for _, m := range regexp.MustCompile(`(?:src|href)="(/[^"]*)"`).FindAllStringSubmatch(page, -1) {
		if w := serve(h, httptest.NewRequest("GET", m[1], nil)); w.Code != 200 {
			t.Errorf("index.html refers to %s: %d", m[1], w.Code)
		}
	}
}
