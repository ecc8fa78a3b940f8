package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter/internal/testsupport"
)

// TestHealthcheck: the healthcheck command exits 0 while the real serve
// answers /readyz, and 1 with its reason on one line once it is gone.
func TestHealthcheck(t *testing.T) {
	srv := startServe(t, testConfig(t))
	t.Setenv("MP3CONVERTER_ADDR", srv.Addr)
	for _, args := range [][]string{{"--url", srv.URL + "/readyz"}, {"--role", "serve"}} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), append([]string{"healthcheck"}, args...), nil, &stdout, &stderr); code != 0 {
			t.Fatalf("healthcheck %v while serving: exit %d, %s", args, code, stderr.String())
		}
		if want := "healthy: " + srv.URL + "/readyz\n"; stdout.String() != want {
			t.Errorf("healthcheck %v said %q, want %q", args, stdout.String(), want)
		}
	}
	srv.Close()
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"healthcheck", "--role", "serve"}, nil, nil, &stderr); code != 1 {
		t.Errorf("healthcheck after Close: exit %d, want 1", code)
	}
	if msg := stderr.String(); !strings.HasPrefix(msg, "mp3converter: healthcheck: ") || strings.Count(msg, "\n") != 1 {
		t.Errorf("healthcheck after Close said %q, want one line of reason", msg)
	}
}

// TestHealthcheckOtherServe is the case: on a host where another
// serve of this binary runs (a real process, its address a flag), the
// healthcheck with MP3CONVERTER_ADDR set to where nothing listens is
// unhealthy and names that address; with no address set at all it takes
// the other serve for nobody's, since it is not this container's PID 1.
// (It used to find that serve in /proc and answer "healthy" for it.)
func TestHealthcheckOtherServe(t *testing.T) {
	other := testsupport.FreeAddr(t)
	startProcess(t, []string{"MP3CONVERTER_DATA_DIR=" + t.TempDir(), "MP3CONVERTER_ADDR=", "MP3CONVERTER_HEALTH_ADDR="}, "serve", "--addr", other)
	waitReady(t, "http://"+other, 30*time.Second)
	check := func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), append([]string{"healthcheck"}, args...), nil, &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}
	if code, out, errs := check("--url", "http://"+other+"/readyz"); code != 0 || out != "healthy: http://"+other+"/readyz\n" {
		t.Fatalf("the other serve asked by --url: exit %d, %q %q", code, out, errs)
	}
	t.Setenv("MP3CONVERTER_HEALTH_ADDR", "")
	t.Setenv("MP3CONVERTER_ADDR", "127.0.0.1:1")
	code, out, errs := check()
	if want := "mp3converter: healthcheck: nothing answers at http://127.0.0.1:1/readyz (MP3CONVERTER_ADDR): connect: connection refused\n"; code != 1 || out != "" || errs != want {
		t.Errorf("MP3CONVERTER_ADDR=127.0.0.1:1: exit %d, %q %q; want 1 and %q", code, out, errs, want)
	}
	t.Setenv("MP3CONVERTER_ADDR", "")
	code, out, errs = check()
	if code != 1 || out != "" || !strings.Contains(errs, "no address set") || strings.Count(errs, "\n") != 1 {
		t.Errorf("no address set, on a host: exit %d, %q %q; want 1 and why", code, out, errs)
	}
}
