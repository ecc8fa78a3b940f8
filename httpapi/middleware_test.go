package httpapi

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Every response carries the security headers and a request id; a panic
// becomes a 500 saying only "internal error", and is logged with its stack.
func TestMiddleware(t *testing.T) {
	var logs strings.Builder
	log := slog.New(slog.NewTextHandler(&logs, nil))
	h := Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/panic" {
			panic("a bug")
		}
		w.Write([]byte("fine"))
	}), log, nil)
	for _, path := range []string{"/ok", "/panic"} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		for k, v := range map[string]string{
			"X-Content-Type-Options":  "nosniff",
			"X-Frame-Options":         "DENY",
			"Referrer-Policy":         "no-referrer",
			"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
		} {
			if got := w.Header().Get(k); got != v {
				t.Errorf("%s: %s = %q, want %q", path, k, got, v)
			}
		}
		if len(w.Header().Get("X-Request-ID")) != 16 {
			t.Errorf("%s: no request id", path)
		}
		if path == "/panic" {
			if w.Code != 500 || strings.TrimSpace(w.Body.String()) != "internal error" {
				t.Errorf("panic answered %d %q", w.Code, w.Body.String())
			}
			if !strings.Contains(logs.String(), `panic="a bug"`) || !strings.Contains(logs.String(), "middleware_test.go") {
				t.Errorf("the panic and its stack were not logged: %s", logs.String())
			}
		}
	}
	// A client's request id is kept if it is sane, replaced if not.
	for id, keep := range map[string]bool{
		"abc-123": true, "7f3a.b_c": true, "bad id\x01": false, strings.Repeat("x", 100): false,
		`x" level=ERROR msg=forged`: false, "a=b": false, "<script>": false, "ünïcode": false,
	} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("GET", "/ok", nil)
		r.Header.Set("X-Request-ID", id)
		h.ServeHTTP(w, r)
		if (w.Header().Get("X-Request-ID") == id) != keep {
			t.Errorf("request id %q: got %q", id, w.Header().Get("X-Request-ID"))
		}
	}
}
