package httpapi

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/mp3converter/mp3converter"
)

// The web page at / is a few static files embedded in the binary, served by
// every gateway. It signs in with a session cookie holding the same JWT as
// the API's Bearer token, HttpOnly so that no script can read it. The cookie
// is sent with requests that other sites make too, so a state-changing
// request signed in by cookie must prove it comes from the page (sameOrigin).

//go:embed web
var webFS embed.FS

// sessionCookie names the cookie holding the page's JWT.
const sessionCookie = "mp3c_session"

// pageCSP lets the page run only its own script and style, talk only to its
// origin, and be framed by no one.
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// webFile is an embedded file ready to serve.
type webFile struct {
	body  []byte
	ctype string
	etag  string
}

// contentTypes are the types of the page's files, by extension: explicit,
// not the system's mime table.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
}

// webFiles are the embedded files by name, read once.
var webFiles = func() map[string]webFile {
	files := map[string]webFile{}
	err := fs.WalkDir(webFS, "web", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := webFS.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		files[path.Base(p)] = webFile{body: b, ctype: contentTypes[path.Ext(p)], etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return files
}()

// pageRoutes serve the web page: not API routes, so not in openapi.yaml.
func pageRoutes() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"GET /{$}":           func(w http.ResponseWriter, r *http.Request) { serveWebFile(w, r, "index.html") },
		"GET /static/{name}": func(w http.ResponseWriter, r *http.Request) { serveWebFile(w, r, r.PathValue("name")) },
	}
}

// serveWebFile serves an embedded file with the page's CSP. The files have
// no versioned names, so the browser revalidates them by ETag.
func serveWebFile(w http.ResponseWriter, r *http.Request, name string) {
	f, ok := webFiles[name]
	if !ok || f.ctype == "" {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("Content-Type", f.ctype)
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", f.etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
}

// sessions start the page's cookie sessions, and end any session.
type sessions struct {
	tokens  Verifier
	revoker Revoker // nil: logout only clears the cookie
	proxies Proxies // whose X-Forwarded-Proto to believe
	log     *slog.Logger
}

func (g *Gateway) sessions() *sessions {
	return &sessions{tokens: g.Tokens, revoker: g.Revoker, proxies: g.Proxies, log: g.Logger}
}

// start answers a cookie login: the token goes in the cookie, for as long
// as it is valid, and only the claims in the body.
func (s *sessions) start(w http.ResponseWriter, r *http.Request, token string) {
	c, err := s.tokens.Verify(r.Context(), token)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	maxAge := -1 // an already expired token: no session
	if c.ExpiresAt != nil {
		if left := int(time.Until(c.ExpiresAt.Time).Seconds()); left > 0 {
			maxAge = left
		}
	}
	http.SetCookie(w, s.cookie(r, token, maxAge))
	writeJSON(w, http.StatusOK, struct {
		Username  string `json:"username"`
		SiteAdmin bool   `json:"mp3converter_admin"`
	}{c.Username, c.SiteAdmin})
}

// logout serves POST /logout. With a valid token, Bearer or the page's
// cookie, it revokes every token of the account issued until now, on every
// device; it clears the cookie in any case. Without a Bearer token the
// request must carry the page's proof of origin, so that no other site can
// sign the user out; a Bearer token is proof enough, as no other site can
// make a browser send one (unlike Basic credentials, which it may). A bad
// or expired token has nothing left to revoke: 204 still. If the store
// cannot be reached the tokens stay valid, and the answer says so (503).
func (s *sessions) logout(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if !hasBearer(r) && !sameOrigin(r) {
		Error(w, r, s.log, errCrossSite)
		return
	}
	c, err := authenticate(r, s.tokens)
	http.SetCookie(w, s.cookie(r, "", -1))
	if err == nil && s.revoker != nil {
		err = s.revoker.Revoke(r.Context(), c.Username)
		if err == nil {
			s.log.Info("TokensRevoked", "request_id", requestID(r.Context()), "user", c.Username)
		}
		if errors.Is(err, mp3converter.ErrNotFound) {
			err = nil // deleted meanwhile, and its tokens with it
		}
	}
	if err != nil && mp3converter.ErrorCode(err) != mp3converter.EUNAUTHORIZED {
		Error(w, r, s.log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// hasBearer says whether r carries an Authorization header of the Bearer
// scheme, valid or not.
func hasBearer(r *http.Request) bool {
	scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	return strings.EqualFold(scheme, "Bearer")
}

func (s *sessions) cookie(r *http.Request, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: sessionCookie, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.https(r)}
}

// https says whether the client reached us over HTTPS: directly, or through
// a trusted proxy that says so.
func (s *sessions) https(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	proto, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ",")
	return strings.EqualFold(strings.TrimSpace(proto), "https") && s.proxies.trustsPeer(r)
}

// errCrossSite refuses a cookie-authenticated request that the page did not
// make.
var errCrossSite = mp3converter.Errorf(mp3converter.EFORBIDDEN, "cross-site request refused")

// stateChanging says whether a request of this method may change anything.
func stateChanging(method string) bool {
	return method != http.MethodGet && method != http.MethodHead && method != http.MethodOptions
}

// sameOrigin says whether r comes from the page itself. It must carry
// "X-CSRF: 1": a form cannot send a header, and another origin's script
// cannot without a CORS preflight, which the gateway never grants. And the
// browser's Origin and Sec-Fetch-Site, when present, must name this origin.
func sameOrigin(r *http.Request) bool {
	if r.Header.Get("X-CSRF") != "1" {
		return false
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		return false
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host == "" || !strings.EqualFold(u.Host, r.Host) {
			return false
		}
	}
	return true
}
