package app

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter/internal/cmdflag"
)

// fakeProc writes a /proc holding processes with these command lines.
func fakeProc(t *testing.T, cmdlines map[string][]string) string {
	t.Helper()
	dir := t.TempDir()
	for pid, argv := range cmdlines {
		if err := os.MkdirAll(filepath.Join(dir, pid), 0o755); err != nil {
			t.Fatal(err)
		}
		line := strings.Join(argv, "\x00") + "\x00"
		if err := os.WriteFile(filepath.Join(dir, pid, "cmdline"), []byte(line), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestHealthcheckURLs: the address asked is the one the process listens
// on, from its flags, the environment or its role's default.
func TestHealthcheckURLs(t *testing.T) {
	for _, k := range []string{"MP3CONVERTER_ADDR", "MP3CONVERTER_HEALTH_ADDR"} {
		t.Setenv(k, "")
	}
	for _, tt := range []struct {
		name string
		h    Healthcheck
		env  map[string]string
		want string
	}{
		{"serve, PID 1", Healthcheck{Proc: fakeProc(t, map[string][]string{"1": {"/usr/local/bin/mp3converter", "serve"}})}, nil,
			"http://127.0.0.1:8080/readyz"},
		{"auth", Healthcheck{Proc: fakeProc(t, map[string][]string{"1": {"mp3converter", "auth"}})}, nil,
			"http://127.0.0.1:5000/readyz"},
		{"converter", Healthcheck{Proc: fakeProc(t, map[string][]string{"1": {"mp3converter", "converter"}})}, nil,
			"http://127.0.0.1:8081/readyz"},
		{"notification", Healthcheck{Proc: fakeProc(t, map[string][]string{"1": {"mp3converter", "notification"}})}, nil,
			"http://127.0.0.1:8082/readyz"},
		{"behind an init, oldest first", Healthcheck{Proc: fakeProc(t, map[string][]string{
			"1": {"/sbin/docker-init", "--", "mp3converter", "gateway"}, "12": {"mp3converter", "auth"},
			"7": {"/usr/local/bin/mp3converter", "gateway"}, "30": {"mp3converter", "healthcheck"}})}, nil,
			"http://127.0.0.1:8080/readyz"},
		{"flag", Healthcheck{Proc: fakeProc(t, map[string][]string{"1": {"mp3converter", "gateway", "--addr", "127.0.0.2:9000", "--log-level=debug"}})}, nil,
			"http://127.0.0.2:9000/readyz"},
		{"environment", Healthcheck{Proc: fakeProc(t, map[string][]string{"1": {"mp3converter", "converter"}})},
			map[string]string{"MP3CONVERTER_ADDR": ":1", "MP3CONVERTER_HEALTH_ADDR": "0.0.0.0:9100"}, "http://127.0.0.1:9100/readyz"},
		{"role given", Healthcheck{Role: "auth", Proc: fakeProc(t, nil)}, map[string]string{"MP3CONVERTER_ADDR": "[::]:6000"},
			"http://127.0.0.1:6000/readyz"},
		{"URL given", Healthcheck{URL: "http://x:1/healthz", Role: "auth"}, nil, "http://x:1/healthz"},
		{"nothing known: every port", Healthcheck{Proc: fakeProc(t, nil)}, map[string]string{"MP3CONVERTER_HEALTH_ADDR": ":9200"},
			"http://127.0.0.1:9200/readyz http://127.0.0.1:8080/readyz http://127.0.0.1:5000/readyz"},
		{"nothing known nor set", Healthcheck{Proc: fakeProc(t, nil)}, nil,
			"http://127.0.0.1:8080/readyz http://127.0.0.1:5000/readyz http://127.0.0.1:8081/readyz http://127.0.0.1:8082/readyz"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			urls, err := tt.h.urls()
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(urls, " "); got != tt.want {
				t.Errorf("urls %s, want %s", got, tt.want)
			}
		})
	}
	if _, err := (Healthcheck{Role: "nonsense"}).urls(); !cmdflag.IsUsage(err) {
		t.Errorf("unknown role: %v, want a usage error", err)
	}
}

// TestHealthcheck: 200 is healthy; any other status, a process that does
// not answer in time and no process at all are not, each with its reason
// on one line.
func TestHealthcheck(t *testing.T) {
	var status atomic.Int32 // the slow request's handler reads it after its client gave up
	status.Store(http.StatusOK)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		if r.URL.Query().Get("slow") != "" {
			time.Sleep(time.Second)
		}
		w.WriteHeader(int(status.Load()))
		io.WriteString(w, "not ready: queue,\nusers failing\n")
	}))
	defer srv.Close()
	closed := closedAddr(t)
	run := func(args ...string) error {
		return RunHealthcheck(context.Background(), args, io.Discard, io.Discard)
	}
	if err := run("--url", srv.URL+"/readyz"); err != nil {
		t.Errorf("up: %v", err)
	}
	status.Store(http.StatusServiceUnavailable)
	err := run("--url", srv.URL+"/readyz")
	if err == nil || !strings.Contains(err.Error(), "503 Service Unavailable: not ready: queue, users failing") || strings.Contains(err.Error(), "\n") {
		t.Errorf("not ready: %v", err)
	}
	if err := run("--url", srv.URL+"/readyz?slow=1", "--timeout", "100ms"); err == nil || !strings.Contains(err.Error(), "deadline exceeded") {
		t.Errorf("slow: %v", err)
	}
	if err := run("--url", "http://"+closed+"/readyz"); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("down: %v", err)
	}
	// Without a process found, the first address that answers decides.
	status.Store(http.StatusOK)
	t.Setenv("MP3CONVERTER_ADDR", closed)
	t.Setenv("MP3CONVERTER_HEALTH_ADDR", strings.TrimPrefix(srv.URL, "http://"))
	h := Healthcheck{Proc: fakeProc(t, nil), Timeout: 2 * time.Second}
	if u, err := h.Check(context.Background()); err != nil || u != srv.URL+"/readyz" {
		t.Errorf("found %s, %v; want %s/readyz", u, err, srv.URL)
	}
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
