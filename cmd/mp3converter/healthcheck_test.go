package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
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
