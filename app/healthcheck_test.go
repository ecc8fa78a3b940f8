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

// fakeProc writes a /proc holding processes with these command lines,
// each a child of PID 1 (PID 1 of none) unless parents says otherwise.
func fakeProc(t *testing.T, cmdlines map[string][]string, parents ...map[string]string) string {
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
		ppid := "1"
		if pid == "1" {
			ppid = "0"
		}
		for _, p := range parents {
			if v, ok := p[pid]; ok {
				ppid = v
			}
		}
		status := "Name:\tmp3converter\nState:\tS (sleeping)\nPid:\t" + pid + "\nPPid:\t" + ppid + "\n"
		if err := os.WriteFile(filepath.Join(dir, pid, "status"), []byte(status), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestHealthcheckURLs: the address asked is the one given, else the one
// the environment sets, else the one this container's process listens on,
// from its flags, the environment or its role's default; never another
// process's.
func TestHealthcheckURLs(t *testing.T) {
	for _, k := range addrEnv {
		t.Setenv(k, "")
	}
	host := map[string][]string{"1": {"/lib/systemd/systemd", "--system"}, "4242": {"/home/ann/bin/mp3converter", "serve", "--addr", ":9999"}}
	for _, tt := range []struct {
		name string
		h    Healthcheck
		env  map[string]string
		want string // the URLs, or the error's start
	}{
		{"serve, PID 1", Healthcheck{Proc: fakeProc(t, map[string][]string{"1": {"/usr/local/bin/mp3converter", "serve"}})}, nil,
			"http://127.0.0.1:8080/readyz"},
		{"auth", Healthcheck{Proc: fakeProc(t, map[string][]string{"1": {"mp3converter", "auth"}})}, nil,
			"http://127.0.0.1:5000/readyz"},
		{"converter", Healthcheck{Proc: fakeProc(t, map[string][]string{"1": {"mp3converter", "converter"}})}, nil,
			"http://127.0.0.1:8081/readyz"},
		{"notification", Healthcheck{Proc: fakeProc(t, map[string][]string{"1": {"mp3converter", "notification"}})}, nil,
			"http://127.0.0.1:8082/readyz"},
		{"behind an init, its child", Healthcheck{Proc: fakeProc(t, map[string][]string{
			"1": {"/sbin/docker-init", "--", "mp3converter", "gateway"}, "12": {"mp3converter", "auth"},
			"7": {"/usr/local/bin/mp3converter", "gateway"}, "30": {"mp3converter", "healthcheck"}},
			map[string]string{"12": "7", "30": "0"})}, nil,
			"http://127.0.0.1:8080/readyz"},
		{"flag", Healthcheck{Proc: fakeProc(t, map[string][]string{"1": {"mp3converter", "gateway", "--addr", "127.0.0.2:9000", "--log-level=debug"}})}, nil,
			"http://127.0.0.2:9000/readyz"},
		{"environment, before /proc", Healthcheck{Proc: fakeProc(t, map[string][]string{"1": {"mp3converter", "converter", "--health-addr", ":7000"}})},
			map[string]string{"MP3CONVERTER_HEALTH_ADDR": "0.0.0.0:9100"}, "http://127.0.0.1:9100/readyz"},
		{"environment, both set, in order", Healthcheck{Proc: fakeProc(t, nil)},
			map[string]string{"MP3CONVERTER_ADDR": ":1", "MP3CONVERTER_HEALTH_ADDR": "0.0.0.0:9100"}, "http://127.0.0.1:1/readyz http://127.0.0.1:9100/readyz"},
		{"the issue's host: the address set, another serve running", Healthcheck{Proc: fakeProc(t, host)},
			map[string]string{"MP3CONVERTER_ADDR": "127.0.0.1:1"}, "http://127.0.0.1:1/readyz"},
		{"role given", Healthcheck{Role: "auth", Proc: fakeProc(t, nil)}, map[string]string{"MP3CONVERTER_ADDR": "[::]:6000"},
			"http://127.0.0.1:6000/readyz"},
		{"URL given", Healthcheck{URL: "http://x:1/healthz", Role: "auth"}, nil, "http://x:1/healthz"},
		{"a host: another serve is not ours", Healthcheck{Proc: fakeProc(t, host)}, nil,
			"no address set (MP3CONVERTER_ADDR, MP3CONVERTER_HEALTH_ADDR, --url or --role), and PID 1 (/lib/systemd/systemd --system) is not mp3converter"},
		{"a host: a serve reparented to init is not ours either", Healthcheck{Proc: fakeProc(t, host, map[string]string{"4242": "1"})}, nil,
			"no address set"},
		{"behind an init, no child of it", Healthcheck{Proc: fakeProc(t, map[string][]string{
			"1": {"tini", "--", "mp3converter", "serve"}, "9": {"mp3converter", "serve"}}, map[string]string{"9": "5"})}, nil,
			"no address set"},
		{"no /proc", Healthcheck{Proc: filepath.Join(t.TempDir(), "none")}, nil, "no address set"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			ts, err := tt.h.targets()
			var got []string
			for _, x := range ts {
				got = append(got, x.url)
			}
			if err != nil {
				got = []string{err.Error()}
			}
			if !strings.HasPrefix(strings.Join(got, " "), tt.want) {
				t.Errorf("got %s, want %s", strings.Join(got, " "), tt.want)
			}
		})
	}
	if _, err := (Healthcheck{Role: "nonsense"}).targets(); !cmdflag.IsUsage(err) {
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
	// Of the addresses the environment sets, the first that answers
	// decides.
	status.Store(http.StatusOK)
	t.Setenv("MP3CONVERTER_ADDR", closed)
	t.Setenv("MP3CONVERTER_HEALTH_ADDR", strings.TrimPrefix(srv.URL, "http://"))
	h := Healthcheck{Proc: fakeProc(t, nil), Timeout: 2 * time.Second}
	if u, err := h.Check(context.Background()); err != nil || u != srv.URL+"/readyz" {
		t.Errorf("found %s, %v; want %s/readyz", u, err, srv.URL)
	}
	// The case: the address set answers nothing, while another
	// serve of this binary, on this host, listens where its flag says:
	// unhealthy, naming the address, never the other's health.
	t.Setenv("MP3CONVERTER_HEALTH_ADDR", "")
	h.Proc = fakeProc(t, map[string][]string{"1": {"/sbin/init"}, "4242": {"/usr/local/bin/mp3converter", "serve", "--addr", strings.TrimPrefix(srv.URL, "http://")}})
	_, err = h.Check(context.Background())
	if want := "nothing answers at http://" + closed + "/readyz (MP3CONVERTER_ADDR): connect: connection refused"; err == nil || err.Error() != want {
		t.Errorf("the address set is closed: %v, want %s", err, want)
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
