//go:build integration

package main

import (
	"encoding/json"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter/internal/testmedia"
	"github.com/mp3converter/mp3converter/internal/testsupport"
)

// TestIntegrationNodeStopped runs the split deployment (auth, gateway, two
// converters, notification) on a 3-node RabbitMQ cluster, given as its
// three URLs, and stops, in the middle of a batch of 20, the node that
// holds the video queue, uploading meanwhile. With quorum queues, the
// node that leads it: every job ends done, once, none dead-lettered, and
// refused uploads leave nothing. With classic queues, in a vhost of their
// own, the node the queue lives on, for MP3CONVERTER_TEST_CLASSIC_OUTAGE
// (90 s): the test measures what is done, stuck and refused while it is
// down, and then that every job ends done once it is back. About 7 minutes.
func TestIntegrationNodeStopped(t *testing.T) {
	_, api := testsupport.Mailpit(t)
	rabbit := testsupport.RabbitMQCluster(t, 3)
	src := testmedia.Make(t, testmedia.MKV, 20)
	outage := 90 * time.Second
	if s := os.Getenv("MP3CONVERTER_TEST_CLASSIC_OUTAGE"); s != "" {
		outage, _ = time.ParseDuration(s)
	}
	rows := [][]string{quorumNodeStopped(t, rabbit, api, src), classicNodeStopped(t, rabbit, api, src, outage)}
	report(t, "node-stopped.md", "| queues | node stopped mid-batch | accepted | uploads refused (503) while it was down | done while it was down | stuck while it was down | done once it was back | failed or lost | dead letters | MP3s stored | mails | duplicate mails |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n", rows)
}

// nodeDeployment is the split deployment on vhost of rabbit, with queues
// of kind, and a user of its own.
func nodeDeployment(t *testing.T, rabbit *testsupport.RabbitCluster, vhost, kind string) (*cluster, *client, string) {
	t.Helper()
	c := newCluster(t, rabbit.URLs(vhost))
	c.env = append(c.env, "MP3CONVERTER_QUEUE_TYPE="+kind)
	email := testsupport.RandomName("node-") + "@example.com"
	c.addUser(email, "node-password")
	c.start("auth", "auth")
	c.start("gateway", "gateway")
	c.start("converter-1", "converter", "MP3CONVERTER_WORKERS=1")
	c.start("converter-2", "converter", "MP3CONVERTER_WORKERS=1")
	c.start("notification", "notification")
	return c, login(t, c.gateway, email, "node-password"), email
}

// stopHost stops the node that holds vhost's video queue, in the
// background: the returned channel is closed once it is down.
func stopHost(t *testing.T, rabbit *testsupport.RabbitCluster, vhost string) (*testsupport.RabbitNode, <-chan struct{}) {
	t.Helper()
	rabbit.AwaitMembers(vhost, "video")
	rabbit.AwaitMembers(vhost, "mp3")
	host := rabbit.Leader(vhost, "video")
	if host == nil {
		t.Fatal("no node holds the video queue")
	}
	mp3 := rabbit.Leader(vhost, "mp3")
	t.Logf("stopping %s, which holds video (mp3: %v)", host.Name, mp3 != nil && mp3.Name == host.Name)
	down := make(chan struct{})
	go func() { host.Stop(); close(down) }()
	return host, down
}

// uploadWhile uploads src every interval until d has passed: the ids of
// the uploads accepted, and how many were refused with 503.
func uploadWhile(t *testing.T, cl *client, src string, d, interval time.Duration) (ids []string, refused int) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(interval) {
		resp, body := cl.uploadForm(src, nil, nil)
		switch resp.StatusCode {
		case http.StatusAccepted:
			var a accepted
			json.Unmarshal(body, &a)
			ids = append(ids, a.JobID)
		case http.StatusServiceUnavailable:
			if refused++; refused == 1 {
				t.Logf("an upload refused: %s", body)
			}
		default:
			t.Errorf("upload with a node stopped: %d %s", resp.StatusCode, body)
		}
	}
	return ids, refused
}

// statuses counts the jobs of ids by status.
func statuses(cl *client, ids []string) map[string]int {
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	n := map[string]int{}
	for _, j := range cl.jobs("?limit=1000") {
		if want[j.ID] {
			n[j.Status]++
		}
	}
	return n
}

// waitFinished waits up to timeout for every job of ids to be done or
// failed, and returns the counts by status and the time it took.
func waitFinished(cl *client, ids []string, timeout time.Duration) (map[string]int, time.Duration) {
	start := time.Now()
	for {
		n := statuses(cl, ids)
		if n["done"]+n["failed"] == len(ids) || time.Since(start) > timeout {
			return n, time.Since(start)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// leftJobs checks that the user has the jobs of ids and no other: refused
// uploads leave none.
func leftJobs(t *testing.T, cl *client, ids []string) {
	t.Helper()
	if js := cl.jobs("?limit=1000"); len(js) != len(ids) {
		t.Errorf("%d jobs listed, want the %d accepted: refused uploads must leave none", len(js), len(ids))
	}
}
