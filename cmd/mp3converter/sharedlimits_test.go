//go:build integration

package main

import (
	"bufio"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter/internal/testmedia"
	"github.com/mp3converter/mp3converter/internal/testsupport"
)

// TestIntegrationSharedLimits: two gateway processes on one MySQL share
// their limits. 10 wrong passwords for one account from one address,
// alternating between the gateways, check at most the per-account limit
// of 5 (each gateway counted its own before: 10). A user with an upload
// in progress on one gateway is refused a second on the other
// (--max-uploads-per-user 1). A deletion through one gateway reaches a
// stream on the other within the poll interval.
func TestIntegrationSharedLimits(t *testing.T) {
	c := newCluster(t, testsupport.Broker(t))
	c.env = append(c.env, "MP3CONVERTER_MAX_UPLOADS_PER_USER=1", "MP3CONVERTER_EVENTS_POLL_INTERVAL=500ms")
	email, other := testsupport.RandomName("shared-")+"@example.com", testsupport.RandomName("other-")+"@example.com"
	c.addUser(email, "shared-password")
	c.addUser(other, "other-password") // for what follows the guesses, which lock email out of this address
	c.start("auth", "auth")
	c.start("converter", "converter")
	var gateways []string
	for _, name := range []string{"gateway-a", "gateway-b"} {
		c.start(name, "gateway")
		gateways = append(gateways, "http://"+c.addrs[name])
	}
	var rows [][]string

	codes := map[int]int{}
	for i := range 10 {
		codes[tryLogin(t, gateways[i%2], email, fmt.Sprint("guess-", i), "").StatusCode]++
	}
	t.Logf("10 wrong passwords alternating between 2 gateways: %v", codes)
	if codes[http.StatusUnauthorized] > 5 || codes[http.StatusUnauthorized]+codes[http.StatusTooManyRequests] != 10 {
		t.Errorf("10 wrong passwords over 2 gateways: %v; want at most 5 checked (401), the rest 429", codes)
	}
	rows = append(rows, []string{"10 wrong passwords for one account, alternating between 2 gateways", fmt.Sprintf("%d×401, %d×429", codes[401], codes[429])})

	a := login(t, gateways[0], other, "other-password")
	b := &client{t: t, base: gateways[1], token: a.token}
	slow := a.slowUpload(time.Second) // in progress on gateway A
	time.Sleep(300 * time.Millisecond)
	resp, msg := b.uploadStatus(testmedia.Make(t, testmedia.MP4, 2), "second.mp4")
	slow.stop()
	t.Logf("a second upload on gateway B while one is in progress on A: %d %q", resp.StatusCode, msg)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("a second upload on the other gateway: %d %q, want 429", resp.StatusCode, msg)
	}
	rows = append(rows, []string{"an upload on gateway B while one is in progress on A (1 per user)", fmt.Sprint(resp.StatusCode)})

	time.Sleep(time.Second) // the slow upload's lease ends
	job := a.upload(testmedia.Make(t, testmedia.MP4, 2), "clip.mp4")
	a.waitJob(job.JobID, time.Minute)
	deleted := make(chan time.Time, 1)
	go watchDeletion(t, b, job.JobID, deleted)
	time.Sleep(time.Second) // the stream is open and has sent its snapshot
	start := time.Now()
	if resp, _ := do(t, a.request("DELETE", "/jobs/"+job.JobID, nil)); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE on gateway A: %d", resp.StatusCode)
	}
	select {
	case at := <-deleted:
		t.Logf("the deletion on A reached a stream on B after %v", at.Sub(start))
		if d := at.Sub(start); d > 2*time.Second {
			t.Errorf("the deletion reached the other gateway's stream after %v, want within the 500 ms poll (and its query)", d)
		}
		rows = append(rows, []string{"a deletion through gateway A, to a stream on B", at.Sub(start).Round(time.Millisecond).String()})
	case <-time.After(10 * time.Second):
		t.Error("the deletion on gateway A never reached the stream on B")
	}
	report(t, "shared-limits.md", "| two gateways on one MySQL | result |\n|---|---|\n", rows)
}

// watchDeletion reads cl's event stream until it tells that job id was
// deleted, and sends when.
func watchDeletion(t *testing.T, cl *client, id string, deleted chan<- time.Time) {
	resp, err := http.DefaultClient.Do(cl.request("GET", "/jobs/events", nil))
	if err != nil {
		t.Error(err)
		return
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	event := ""
	for sc.Scan() {
		line := sc.Text()
		if e, ok := strings.CutPrefix(line, "event: "); ok {
			event = e
		}
		if strings.HasPrefix(line, "data: ") && event == "deleted" && strings.Contains(line, id) {
			deleted <- time.Now()
			return
		}
	}
}
