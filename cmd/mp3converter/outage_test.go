//go:build integration

package main

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter/internal/testmedia"
	"github.com/mp3converter/mp3converter/internal/testsupport"
)

// newRabbitNode is a RabbitMQ node of the test's own: its own node name,
// ports and data dir, so the shared broker is never touched.
func newRabbitNode(t *testing.T) *testsupport.RabbitNode {
	t.Helper()
	return testsupport.RabbitMQCluster(t, 1).Nodes[0]
}

func portNumber(t *testing.T) int {
	addr := testsupport.FreeAddr(t)
	p, _ := strconv.Atoi(addr[strings.LastIndex(addr, ":")+1:])
	return p
}

// TestIntegrationBrokerOutage stops RabbitMQ under running roles: uploads
// get 503 and leave nothing behind; once it is back, uploads and
// conversions resume without restarting our processes.
func TestIntegrationBrokerOutage(t *testing.T) {
	node := newRabbitNode(t)
	c := newCluster(t, node.URL(""))
	email := testsupport.RandomName("outage-") + "@example.com"
	c.addUser(email, "outage-password")
	c.start("auth", "auth")
	c.start("gateway", "gateway")
	c.start("converter", "converter", "MP3CONVERTER_WORKERS=1")
	c.start("notification", "notification")
	cl := login(t, c.gateway, email, "outage-password")
	src := testmedia.Make(t, testmedia.MP4, 3)

	before := cl.upload(src, "before.mp4")
	if j := cl.waitJob(before.JobID, 2*time.Minute); j.Status != "done" {
		t.Fatalf("before the outage: %s %s", j.Status, deref(j.Error))
	}

	node.Stop()
	for i := range 3 {
		resp, body := cl.uploadForm(src, nil, nil)
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("upload %d while the broker is down: %d %q, want 503", i, resp.StatusCode, body)
		}
	}
	if js := cl.jobs(""); len(js) != 1 {
		t.Errorf("refused uploads left %d jobs, want only the first", len(js))
	}
	if n := gridfsFiles(t, c.storeURL, "videos"); n != 0 {
		t.Errorf("refused uploads left %d videos in GridFS", n)
	}
	resp, err := http.Get(c.gateway + "/readyz")
	if err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		checkAPI(t, resp.Request, resp, b)
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("gateway /readyz with the broker down: %d", resp.StatusCode)
		}
	}

	node.Start()
	var after []string
	deadline := time.Now().Add(60 * time.Second)
	for len(after) < 3 {
		resp, body := cl.uploadForm(src, nil, nil)
		if resp.StatusCode == http.StatusAccepted {
			after = append(after, string(body))
			continue
		}
		if time.Now().After(deadline) {
			t.Fatalf("uploads still fail after the broker came back: %d %q", resp.StatusCode, body)
		}
		time.Sleep(500 * time.Millisecond)
	}
	for _, j := range cl.jobs("") {
		if j.Status != "done" {
			if j = cl.waitJob(j.ID, 2*time.Minute); j.Status != "done" {
				t.Errorf("job %s after the outage: %s %s", j.ID, j.Status, deref(j.Error))
			}
		}
	}
	if js := cl.jobs(""); len(js) != 4 {
		t.Errorf("%d jobs, want 4", len(js))
	}
}
