// Package httpapi serves the public HTTP API: the seed's routes (/login,
// /validate, /upload, /download) with their wire formats, the job routes,
// and health checks.
//
// Errors map to statuses in one table (see Error). A client sees the
// message of an mp3converter.Error, or "internal error" for anything else;
// the full error is logged with the request's id. Every request is logged
// without its credentials.
package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/internal/metrics"
)

// statusOf maps error codes to HTTP statuses.
var statusOf = map[string]int{
	mp3converter.EINVALID:      http.StatusBadRequest,
	mp3converter.EUNAUTHORIZED: http.StatusUnauthorized,
	mp3converter.EFORBIDDEN:    http.StatusForbidden,
	mp3converter.ENOTFOUND:     http.StatusNotFound,
	mp3converter.ECONFLICT:     http.StatusConflict,
	mp3converter.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	mp3converter.ETOOMANY:      http.StatusTooManyRequests,
	mp3converter.ETIMEOUT:      http.StatusRequestTimeout,
	mp3converter.EUNAVAILABLE:  http.StatusServiceUnavailable,
	mp3converter.EINTERNAL:     http.StatusInternalServerError,
	// Space comes back when jobs finish or expire: a minute, not seconds.
	mp3converter.EINSUFFICIENTSTORAGE: http.StatusInsufficientStorage,
}

// retryAfter is the Retry-After of statuses that always carry one.
var retryAfter = map[int]string{http.StatusServiceUnavailable: "5", http.StatusInsufficientStorage: "60"}

// Error writes err to the client: its status from the table, its message as
// text (as the seed does) or as {"error": ...} when the client asks for JSON.
func Error(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	code := mp3converter.ErrorCode(err)
	status, ok := statusOf[code]
	if !ok {
		status = http.StatusInternalServerError
	}
	msg := mp3converter.ErrorMessage(err)
	if status >= 500 {
		log.Error("RequestFailed", "request_id", requestID(r.Context()), "status", status, "err", err)
	}
	if status == http.StatusUnauthorized && w.Header().Get("WWW-Authenticate") == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="mp3converter"`)
	}
	if after, ok := retryAfter[status]; ok && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", after)
	}
	var ra *retryAfterError
	if errors.As(err, &ra) {
		w.Header().Set("Retry-After", strconv.Itoa(max(int(math.Ceil(ra.after.Seconds())), 1)))
	}
	if wantsJSON(r) {
		writeJSON(w, status, map[string]string{"error": msg})
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	fmt.Fprintln(w, msg)
}

func wantsJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

type ctxKey int

const requestIDKey ctxKey = 0

func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// statusRecorder remembers the status and size of a response for the log.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Middleware wraps h with what every route gets: a request id, security
// headers, panic recovery, an access log line and, when m is set, the
// request's duration by its route pattern (which h, a ServeMux, sets).
func Middleware(h http.Handler, log *slog.Logger, m *metrics.Metrics) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-ID")
		if !plainRequestID(id) {
			id = rand.Text()[:16]
		}
		w.Header().Set("X-Request-ID", id)
		hdr := w.Header()
		hdr.Set("X-Content-Type-Options", "nosniff")
		hdr.Set("X-Frame-Options", "DENY")
		hdr.Set("Referrer-Policy", "no-referrer")
		hdr.Set("Cross-Origin-Resource-Policy", "same-origin")
		if hdr.Get("Content-Security-Policy") == "" {
			hdr.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		}
		r = r.WithContext(context.WithValue(r.Context(), requestIDKey, id))
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				log.Error("Panic", "request_id", id, "panic", p, "stack", string(debug.Stack()))
				if rec.status == 0 {
					Error(rec, r, log, fmt.Errorf("panic: %v", p))
				}
			}
			log.Info("Request", "request_id", id, "method", r.Method, "path", r.URL.Path,
				"status", rec.status, "bytes", rec.bytes, "ms", time.Since(start).Milliseconds(), "remote", r.RemoteAddr)
			m.HTTPRequest(r.Pattern, rec.status, time.Since(start))
		}()
		h.ServeHTTP(rec, r)
	})
}

// plainRequestID reports whether a client's X-Request-ID may be logged as
// given: short, and only letters, digits, '-', '_' and '.', so that it can
// forge nothing in a log line.
func plainRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	return !strings.ContainsFunc(id, func(r rune) bool {
		return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_' || r == '.')
	})
}

// Check is a named readiness check.
type Check struct {
	Name  string
	Check func(context.Context) error
}

// HealthHandler serves only /healthz and /readyz, for roles without an API.
func HealthHandler(checks []Check, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", healthz)
	mux.HandleFunc("GET /readyz", readyz(checks, log))
	return mux
}

// healthz serves GET /healthz: the process answers.
func healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "ok")
}

// readyz serves GET /readyz: every check passes within 3 s.
func readyz(checks []Check, log *slog.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		var failed []string
		for _, c := range checks {
			if err := c.Check(ctx); err != nil {
				log.Warn("NotReady", "check", c.Name, "err", err)
				failed = append(failed, c.Name)
			}
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if len(failed) > 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "not ready: %s failing\n", strings.Join(failed, ", "))
			return
		}
		fmt.Fprintln(w, "ready")
	}
}

// isClientGone reports errors caused by the client going away mid-request.
func isClientGone(r *http.Request, err error) bool {
	return r.Context().Err() != nil || errors.Is(err, context.Canceled)
}
