package testsupport

import (
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// RabbitCluster is a RabbitMQ cluster of a test's own: nodes with their own
// names, ports and directories on this host, which the test may stop and
// start one by one. The machine's broker (rabbit@localhost) is never
// touched: every rabbitmqctl call names its node.
type RabbitCluster struct {
	Nodes []*RabbitNode
	t     testing.TB
}

// RabbitNode is one node of a RabbitCluster.
type RabbitNode struct {
	Name string // NAME@localhost, for rabbitmqctl -n
	Addr string // its AMQP listener, 127.0.0.1:PORT

	t   testing.TB
	dir string // owned by the rabbitmq user, which the server runs as
	env []string
	log *os.File
	cmd *exec.Cmd // su, which runs the server as the rabbitmq user
}

// RabbitMQCluster starts a cluster of n nodes (peer discovery by
// classic_config: node 1 first, then the others join it) and waits until
// every node runs in it: 30 to 70 s for three nodes on two busy cores. n
// may be 1: a broker whose outage a test controls. The nodes are stopped and their
// directories removed when t ends, whatever its outcome.
func RabbitMQCluster(t testing.TB, n int) *RabbitCluster {
	t.Helper()
	c := &RabbitCluster{t: t}
	prefix := RandomName("mp3test") + "-"
	for i := range n {
		c.Nodes = append(c.Nodes, &RabbitNode{Name: fmt.Sprintf("%s%d@localhost", prefix, i+1), Addr: FreeAddr(t), t: t})
	}
	for _, node := range c.Nodes {
		node.prepare(c.Nodes)
	}
	start := time.Now()
	for _, node := range c.Nodes {
		node.Start()
	}
	for deadline := time.Now().Add(2 * time.Minute); len(c.running()) < n; time.Sleep(time.Second) {
		if time.Now().After(deadline) {
			t.Fatalf("RabbitMQ cluster: %d of %d nodes running after %v", len(c.running()), n, time.Since(start))
		}
	}
	t.Logf("RabbitMQ cluster of %d formed in %v", n, time.Since(start).Round(100*time.Millisecond))
	return c
}

// prepare writes the node's directory, config and environment, and has it
// stopped and removed when the test ends.
func (n *RabbitNode) prepare(all []*RabbitNode) {
	t := n.t
	t.Helper()
	dir, err := os.MkdirTemp("", "mp3test-rabbit-") // not t.TempDir: rabbitmq must traverse it
	if err != nil {
		t.Fatal(err)
	}
	n.dir = dir
	t.Cleanup(func() { n.Stop(); n.log.Close(); os.RemoveAll(dir) })
	if n.log, err = os.Create(filepath.Join(dir, "output.log")); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf("listeners.tcp.local = %s\nloopback_users.guest = true\n", n.Addr)
	if len(all) > 1 {
		conf += "cluster_formation.peer_discovery_backend = classic_config\n"
		for i, peer := range all {
			conf += fmt.Sprintf("cluster_formation.classic_config.nodes.%d = %s\n", i+1, peer.Name)
		}
	}
	for name, data := range map[string]string{"rabbitmq.conf": conf, "enabled_plugins": "[].\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// rabbitmq-server started as root runs as the rabbitmq user.
	if u, err := user.Lookup("rabbitmq"); err == nil && os.Getuid() == 0 {
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		filepath.Walk(dir, func(p string, _ os.FileInfo, _ error) error { return os.Chown(p, uid, gid) })
	}
	_, port, _ := strings.Cut(n.Addr, ":")
	n.env = []string{
		"RABBITMQ_NODENAME=" + n.Name,
		"RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
		"RABBITMQ_NODE_PORT=" + port,
		"RABBITMQ_DIST_PORT=" + strconv.Itoa(distPort(t)),
		"RABBITMQ_CONFIG_FILE=" + filepath.Join(dir, "rabbitmq.conf"),
		"RABBITMQ_ADVANCED_CONFIG_FILE=" + filepath.Join(dir, "advanced.config"),
		"RABBITMQ_MNESIA_BASE=" + filepath.Join(dir, "mnesia"),
		"RABBITMQ_LOG_BASE=" + filepath.Join(dir, "log"),
		"RABBITMQ_PID_FILE=" + n.pidFile(),
		"RABBITMQ_ENABLED_PLUGINS_FILE=" + filepath.Join(dir, "enabled_plugins"),
	}
}

// distPort is a free port for Erlang distribution, low enough that the
// CLI's ports (it adds 10000) exist too.
func distPort(t testing.TB) int {
	t.Helper()
	for range 100 {
		_, p, _ := strings.Cut(FreeAddr(t), ":")
		if port, _ := strconv.Atoi(p); port < 55000 {
			return port
		}
	}
	t.Fatal("no free port under 55000")
	return 0
}

func (n *RabbitNode) pidFile() string { return filepath.Join(n.dir, "node.pid") }

// URL is the node's amqp:// URL for vhost ("" or "/" for the default).
func (n *RabbitNode) URL(vhost string) string {
	return fmt.Sprintf("amqp://guest:guest@%s/%s", n.Addr, strings.TrimPrefix(vhost, "/"))
}

// URLs is the comma-separated list of the nodes' URLs for vhost, as
// --queue-url takes it.
func (c *RabbitCluster) URLs(vhost string) string {
	var urls []string
	for _, n := range c.Nodes {
		urls = append(urls, n.URL(vhost))
	}
	return strings.Join(urls, ",")
}

// Start starts the node, or starts it again after Stop on the same data,
// and waits until it runs (a node that was in a cluster rejoins it); it
// does nothing if the node runs.
func (n *RabbitNode) Start() {
	t := n.t
	t.Helper()
	if n.cmd != nil {
		return
	}
	os.Remove(n.pidFile())
	n.cmd = exec.Command("rabbitmq-server")
	n.cmd.Env = append(os.Environ(), n.env...)
	n.cmd.Stdout, n.cmd.Stderr = n.log, n.log
	if err := n.cmd.Start(); err != nil {
		t.Fatalf("rabbitmq-server %s: %v", n.Name, err)
	}
	// Not await_startup: it fails (exit 69) until the node answers at all.
	if out, err := n.Ctl(3*time.Minute, "wait", n.pidFile(), "--timeout", "150"); err != nil {
		log, _ := os.ReadFile(n.log.Name())
		t.Fatalf("RabbitMQ node %s did not start: %v\n%s\n%s", n.Name, err, out, log)
	}
	waitTCP(t, n.Addr, 30*time.Second)
}

// Stop halts the node as rabbitmqctl stop does, killing it after a minute;
// its data stays for the next Start. It does nothing if the node is
// stopped.
func (n *RabbitNode) Stop() {
	if n.cmd == nil {
		return
	}
	start := time.Now()
	if out, err := n.Ctl(time.Minute, "stop", n.pidFile()); err != nil {
		n.t.Logf("rabbitmqctl -n %s stop: %v\n%s", n.Name, err, out)
	}
	stopped := time.Since(start)
	WaitOrKill(n.cmd, 30*time.Second)
	n.t.Logf("RabbitMQ node %s stopped in %v (its process ended %v later)", n.Name,
		stopped.Round(100*time.Millisecond), (time.Since(start) - stopped).Round(100*time.Millisecond))
	// su may be gone and the server not: kill the server by its pid file.
	if b, err := os.ReadFile(n.pidFile()); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
			if p, err := os.FindProcess(pid); err == nil {
				p.Kill()
			}
		}
	}
	n.cmd = nil
}

// Running reports whether the node was started and not stopped.
func (n *RabbitNode) Running() bool { return n.cmd != nil }

// Ctl runs rabbitmqctl -n NODE args, for at most timeout, and returns its
// output.
func (n *RabbitNode) Ctl(timeout time.Duration, args ...string) (string, error) {
	cmd := exec.Command("rabbitmqctl", append([]string{"-n", n.Name}, args...)...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return "", err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return out.String(), err
	case <-time.After(timeout):
		cmd.Process.Kill()
		<-done
		return out.String(), fmt.Errorf("rabbitmqctl %s: no answer in %v", args[0], timeout)
	}
}

// running lists the nodes that node 1, or the first started node, sees
// running in its cluster.
func (c *RabbitCluster) running() []string {
	for _, n := range c.Nodes {
		if !n.Running() {
			continue
		}
		out, err := n.Ctl(time.Minute, "cluster_status", "--formatter", "json")
		var st struct {
			Running []string `json:"running_nodes"`
		}
		if i := strings.Index(out, "{"); err == nil && i >= 0 && json.Unmarshal([]byte(out[i:]), &st) == nil {
			return st.Running
		}
	}
	return nil
}

// AddVhost creates a vhost of a random name on the cluster, which guest may
// use, and returns its name. It goes with the cluster.
func (c *RabbitCluster) AddVhost() string {
	c.t.Helper()
	vhost := RandomName("mp3test-")
	for _, args := range [][]string{{"add_vhost", vhost}, {"set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"}} {
		if out, err := c.any().Ctl(time.Minute, args...); err != nil {
			c.t.Fatalf("rabbitmqctl %v: %v\n%s", args, err, out)
		}
	}
	return vhost
}

// any is a running node.
func (c *RabbitCluster) any() *RabbitNode {
	for _, n := range c.Nodes {
		if n.Running() {
			return n
		}
	}
	c.t.Fatal("no RabbitMQ node runs")
	return nil
}

// Leader returns the node that hosts queue in vhost: a quorum queue's
// leader, or a classic queue's only node; nil if the queue does not exist
// or has no leader now (an election).
func (c *RabbitCluster) Leader(vhost, queue string) *RabbitNode {
	c.t.Helper()
	for _, q := range c.any().queues(vhost, "name", "type", "leader") {
		if q["name"] != queue {
			continue
		}
		for _, n := range c.Nodes {
			if q["type"] == "quorum" && n.Name == q["leader"] {
				return n
			}
			// A classic queue is listed --local by its node alone.
			if q["type"] != "quorum" && n.Running() && slices.ContainsFunc(n.queues(vhost, "--local", "name"),
				func(l map[string]any) bool { return l["name"] == queue }) {
				return n
			}
		}
	}
	return nil
}

// AwaitMembers waits until quorum queue in vhost has a member on every
// node and all of them are online, and fails t after a minute. A member
// still starting or catching up when another node stops leaves the queue
// without a majority: its publishes are refused until the member is back.
// A classic queue has no members: it returns at once.
func (c *RabbitCluster) AwaitMembers(vhost, queue string) {
	c.t.Helper()
	start := time.Now()
	var last map[string]any
	for deadline := start.Add(time.Minute); ; time.Sleep(500 * time.Millisecond) {
		for _, q := range c.any().queues(vhost, "name", "type", "members", "online") {
			if q["name"] != queue {
				continue
			}
			last = q
			if q["type"] != "quorum" {
				return
			}
			members, _ := q["members"].([]any)
			online, _ := q["online"].([]any)
			if len(members) == len(c.Nodes) && len(online) == len(members) {
				c.t.Logf("quorum queue %s: %d members online after %v", queue, len(online), time.Since(start).Round(100*time.Millisecond))
				return
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("quorum queue %s: not every member online after a minute: %v", queue, last)
		}
	}
}

// queues lists vhost's queues as the node sees them, with the given info
// items (and options).
func (n *RabbitNode) queues(vhost string, items ...string) []map[string]any {
	n.t.Helper()
	out, err := n.Ctl(time.Minute, append([]string{"list_queues", "-p", cmp.Or(vhost, "/"), "--formatter", "json"}, items...)...)
	if err != nil {
		n.t.Fatalf("list_queues: %v\n%s", err, out)
	}
	var queues []map[string]any
	if i := strings.Index(out, "["); i < 0 || json.Unmarshal([]byte(out[i:]), &queues) != nil {
		n.t.Fatalf("list_queues: %s", out)
	}
	return queues
}
