//go:build integration

package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter/internal/testmedia"
	"github.com/mp3converter/mp3converter/internal/testsupport"
)

// rabbitNode is a RabbitMQ node of the test's own: its own node name, ports
// and data dir, so the shared broker is never touched.
type rabbitNode struct {
	t    *testing.T
	name string
	port int
	env  []string
	dir  string
	cmd  *exec.Cmd
}

func newRabbitNode(t *testing.T) *rabbitNode {
	t.Helper()
	dir, err := os.MkdirTemp("", "mp3test-rabbit-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	port := portNumber(t)
	n := &rabbitNode{t: t, name: testsupport.RandomName("mp3test") + "@localhost", port: port, dir: dir}
	for _, d := range []string{"mnesia", "log"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
	}
	os.WriteFile(filepath.Join(dir, "enabled_plugins"), []byte("[].\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "rabbitmq.conf"), []byte(fmt.Sprintf("listeners.tcp.default = 127.0.0.1:%d\n", port)), 0o644)
	// rabbitmq-server started as root drops to the rabbitmq user.
	if u, err := user.Lookup("rabbitmq"); err == nil && os.Getuid() == 0 {
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		filepath.Walk(dir, func(p string, _ os.FileInfo, _ error) error { return os.Chown(p, uid, gid) })
	}
	n.env = []string{
		"RABBITMQ_NODENAME=" + n.name,
		"RABBITMQ_NODE_PORT=" + strconv.Itoa(port),
		"RABBITMQ_DIST_PORT=" + strconv.Itoa(portNumber(t)),
		"RABBITMQ_MNESIA_BASE=" + filepath.Join(dir, "mnesia"),
		"RABBITMQ_LOG_BASE=" + filepath.Join(dir, "log"),
		"RABBITMQ_PID_FILE=" + filepath.Join(dir, "pid"),
		"RABBITMQ_ENABLED_PLUGINS_FILE=" + filepath.Join(dir, "enabled_plugins"),
		"RABBITMQ_CONFIG_FILE=" + filepath.Join(dir, "rabbitmq.conf"),
	}
	n.start()
	t.Cleanup(n.stop)
	return n
}

func portNumber(t *testing.T) int {
	addr := testsupport.FreeAddr(t)
	p, _ := strconv.Atoi(addr[strings.LastIndex(addr, ":")+1:])
	return p
}

func (n *rabbitNode) url() string { return fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", n.port) }

func (n *rabbitNode) start() {
	n.t.Helper()
	n.cmd = exec.Command("rabbitmq-server")
	n.cmd.Env = append(os.Environ(), n.env...)
	var out bytes.Buffer
	n.cmd.Stdout, n.cmd.Stderr = &out, &out
	if err := n.cmd.Start(); err != nil {
		n.t.Fatalf("rabbitmq-server: %v", err)
	}
	deadline := time.Now().Add(90 * time.Second)
	for !testsupport.Listening(fmt.Sprintf("127.0.0.1:%d", n.port)) {
		if time.Now().After(deadline) {
			n.t.Fatalf("RabbitMQ node %s did not start:\n%s", n.name, out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// stop halts the node; its data stays for the next start.
func (n *rabbitNode) stop() {
	if n.cmd == nil {
		return
	}
	exec.Command("rabbitmqctl", "-n", n.name, "stop").Run()
	testsupport.WaitOrKill(n.cmd, 30*time.Second)
	n.cmd = nil
}

// TestIntegrationBrokerOutage stops RabbitMQ under running roles: uploads
// get 503 and leave nothing behind; once it is back, uploads and
// conversions resume without restarting our processes.
func TestIntegrationBrokerOutage(t *testing.T) {
	node := newRabbitNode(t)
	c := newCluster(t, node.url())
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

	node.stop()
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

	node.start()
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
