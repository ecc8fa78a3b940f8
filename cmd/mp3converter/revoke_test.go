package main

import (
	"net/http"
	"strings"
	"testing"
)

// status sends method path with the Bearer token and returns the status
// and the body.
func (c *client) status(method, path string) (int, string) {
	c.t.Helper()
	resp, b := do(c.t, c.request(method, path, nil))
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// revoked checks that token gets 401 "invalid token" on GET /jobs and POST
// /validate.
func revoked(t *testing.T, what string, c *client) {
	t.Helper()
	for _, route := range [][2]string{{"GET", "/jobs"}, {"POST", "/validate"}} {
		if code, body := c.status(route[0], route[1]); code != 401 || body != "invalid token" {
			t.Errorf("%s on %s %s: %d %q, want 401 \"invalid token\"", what, route[0], route[1], code, body)
		}
	}
}

// TestLogoutRevokes: POST /logout with one Bearer token revokes every token
// of the account, on every device, at once; other accounts keep theirs, and
// a new login works.
func TestLogoutRevokes(t *testing.T) {
	srv := startServe(t, testConfig(t))
	srv.addUser(t, "ann@example.com", "ann-password", false)
	srv.addUser(t, "bob@example.com", "bob-password", false)
	phone := login(t, srv.URL, "ann@example.com", "ann-password")
	laptop := login(t, srv.URL, "ann@example.com", "ann-password")
	bob := login(t, srv.URL, "bob@example.com", "bob-password")
	for _, c := range []*client{phone, laptop} {
		if code, body := c.status("GET", "/jobs"); code != 200 {
			t.Fatalf("before logout: %d %s", code, body)
		}
	}

	if code, body := phone.status("POST", "/logout"); code != 204 {
		t.Fatalf("logout: %d %q", code, body)
	}
	revoked(t, "the token logged out", phone)
	revoked(t, "ann's other token", laptop)
	if code, _ := bob.status("GET", "/jobs"); code != 200 {
		t.Errorf("bob's token after ann's logout: %d, want 200", code)
	}
	fresh := login(t, srv.URL, "ann@example.com", "ann-password")
	if code, _ := fresh.status("GET", "/jobs"); code != 200 {
		t.Errorf("a new login after logout: %d, want 200", code)
	}
	// Logging out with a revoked token revokes nothing more.
	if code, _ := phone.status("POST", "/logout"); code != 204 {
		t.Errorf("logout with a revoked token: %d, want 204", code)
	}
	if code, _ := fresh.status("GET", "/jobs"); code != 200 {
		t.Errorf("the new login after a logout with a revoked token: %d, want 200", code)
	}
}

// TestCookieLogoutRevokes: the page's logout, by cookie with its X-CSRF
// header, clears the cookie and revokes the token it held, so a copy of
// the cookie is worth nothing.
func TestCookieLogoutRevokes(t *testing.T) {
	srv := startServe(t, testConfig(t))
	srv.addUser(t, "ann@example.com", "ann-password", false)
	req, _ := http.NewRequest("POST", srv.URL+"/login", nil)
	req.SetBasicAuth("ann@example.com", "ann-password")
	req.Header.Set("X-Session", "cookie")
	resp, body := do(t, req)
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "mp3c_session" {
			session = c
		}
	}
	if resp.StatusCode != 200 || session == nil || session.Value == "" {
		t.Fatalf("cookie login: %s %s, cookie %v", resp.Status, body, session)
	}
	byCookie := func(method, path string) *http.Request {
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		req.AddCookie(&http.Cookie{Name: session.Name, Value: session.Value})
		req.Header.Set("X-CSRF", "1") // what the page sends
		return req
	}
	if resp, _ := do(t, byCookie("GET", "/jobs")); resp.StatusCode != 200 {
		t.Fatalf("GET /jobs by cookie: %s", resp.Status)
	}

	resp, body = do(t, byCookie("POST", "/logout"))
	if resp.StatusCode != 204 || !strings.Contains(resp.Header.Get("Set-Cookie"), "Max-Age=0") {
		t.Fatalf("logout by cookie: %s %q, Set-Cookie %q", resp.Status, body, resp.Header.Get("Set-Cookie"))
	}
	if resp, body := do(t, byCookie("GET", "/jobs")); resp.StatusCode != 401 || strings.TrimSpace(string(body)) != "invalid token" {
		t.Errorf("the old cookie after logout: %s %q, want 401 \"invalid token\"", resp.Status, body)
	}
	revoked(t, "the old cookie's token as Bearer", &client{t: t, base: srv.URL, token: session.Value})
}

// TestPasswdRevokes: user passwd, run as the command on serve's data dir
// while serve runs, revokes the account's tokens; the old password no
// longer logs in and the new one does.
func TestPasswdRevokes(t *testing.T) {
	cfg := testConfig(t)
	srv := startServe(t, cfg)
	if code, _, errs := runCmd(t, "ann-password\n", "user", "add", "--data-dir", cfg.DataDir, "--email", "ann@example.com", "--password-stdin"); code != 0 {
		t.Fatalf("user add: %s", errs)
	}
	old := login(t, srv.URL, "ann@example.com", "ann-password")

	code, out, errs := runCmd(t, "a-new-password\n", "user", "passwd", "--data-dir", cfg.DataDir, "--email", "ANN@example.com", "--password-stdin")
	if code != 0 || !strings.Contains(out, "changed the password of ann@example.com") {
		t.Fatalf("user passwd: %d %q %q", code, out, errs)
	}
	revoked(t, "a token from before the new password", old)
	if resp := tryLogin(t, srv.URL, "ann@example.com", "ann-password", ""); resp.StatusCode != 401 {
		t.Errorf("the old password: %d, want 401", resp.StatusCode)
	}
	fresh := login(t, srv.URL, "ann@example.com", "a-new-password")
	if code, _ := fresh.status("GET", "/jobs"); code != 200 {
		t.Errorf("a login with the new password: %d, want 200", code)
	}
}
