package main

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter/internal/testmedia"
	"github.com/mp3converter/mp3converter/internal/testsupport"
)

// TestGracefulShutdown sends SIGTERM to the real binary mid-conversion:
// within the grace period the conversion finishes before the process
// exits; with no grace it is handed back, and the next process converts it.
func TestGracefulShutdown(t *testing.T) {
	dataDir := t.TempDir()
	addr := testsupport.FreeAddr(t)
	base := "http://" + addr
	env := func(grace string) []string {
		return []string{"MP3CONVERTER_DATA_DIR=" + dataDir, "MP3CONVERTER_ADDR=" + addr, "MP3CONVERTER_WORKERS=1",
			"MP3CONVERTER_ADMIN_EMAIL=ann@example.com", "MP3CONVERTER_ADMIN_PASSWORD=ann-password",
			"MP3CONVERTER_SHUTDOWN_GRACE=" + grace}
	}
	src := testmedia.Make(t, testmedia.MKV, 240)

	// stopMidConversion uploads, waits until the job converts, sends
	// SIGTERM and returns the job id and how long the process took to exit.
	stopMidConversion := func(p *process, c *client) (string, time.Duration) {
		id := c.upload(src, "long.mkv").JobID
		testsupport.Eventually(t, 30*time.Second, "the job converting", func() bool {
			j, _ := c.job(id)
			return j.Status == "processing"
		})
		start := time.Now()
		p.cmd.Process.Signal(syscall.SIGTERM)
		if err := p.cmd.Wait(); err != nil {
			t.Errorf("exit after SIGTERM: %v", err)
		}
		return id, time.Since(start)
	}

	p := startProcess(t, env("60s"), "serve")
	waitReady(t, base, 30*time.Second)
	c := login(t, base, "ann@example.com", "ann-password")
	finished, took := stopMidConversion(p, c)
	t.Logf("with 60s of grace the process exited %v after SIGTERM", took)

	p = startProcess(t, env("0s"), "serve")
	waitReady(t, base, 30*time.Second)
	if j, _ := c.job(finished); j.Status != "done" || j.Attempts != 1 {
		t.Errorf("the job in flight at a graceful stop: %s after %d attempts, want done after 1", j.Status, j.Attempts)
	}
	handed, took := stopMidConversion(p, c)
	t.Logf("with no grace the process exited %v after SIGTERM", took)
	if took > 10*time.Second {
		t.Errorf("with no grace, exit took %v", took)
	}

	startProcess(t, env("10s"), "serve")
	waitReady(t, base, 30*time.Second)
	j := c.waitJob(handed, 2*time.Minute)
	if j.Status != "done" || j.Attempts != 2 {
		t.Errorf("the handed-back job: %s after %d attempts, want done after 2", j.Status, j.Attempts)
	}
}

// TestDrain: on shutdown with a drain delay, /readyz fails at once while
// requests are still served, so a load balancer can stop sending them.
func TestDrain(t *testing.T) {
	cfg := testConfig(t)
	cfg.DrainDelay = 2 * time.Second
	srv := startServe(t, cfg)
	srv.addUser(t, "ann@example.com", "ann-password", false)
	c := login(t, srv.URL, "ann@example.com", "ann-password")
	closed := make(chan struct{})
	go func() { srv.Close(); close(closed) }()
	time.Sleep(300 * time.Millisecond) // on purpose: Close has begun the drain; /readyz must fail at once
	resp, body := do(t, c.request("GET", "/readyz", nil))
	if resp.StatusCode != 503 || !strings.Contains(string(body), "shutdown") {
		t.Errorf("/readyz while draining: %d %q", resp.StatusCode, body)
	}
	if resp, _ := do(t, c.request("GET", "/jobs", nil)); resp.StatusCode != 200 {
		t.Errorf("a request while draining: %d", resp.StatusCode)
	}
	<-closed
}
