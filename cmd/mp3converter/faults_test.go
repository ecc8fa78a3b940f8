//go:build integration

package main

import (
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter/internal/testmedia"
	"github.com/mp3converter/mp3converter/internal/testsupport"
)

// batch uploads n copies of src at once and returns their job ids.
func batch(t *testing.T, c *client, src string, n int) []string {
	t.Helper()
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids[i] = c.upload(src, fmt.Sprintf("clip-%02d.mkv", i)).JobID
		}()
	}
	wg.Wait()
	return ids
}

// outcome waits for every job, then counts what the user got: jobs done and
// failed, MP3s in GridFS, videos left, and mails. Jobs accepted but not
// finished are lost.
type outcome struct{ accepted, done, failed, lost, mp3s, videos, mails, duplicateMails int }

func settle(t *testing.T, c *cluster, cl *client, api, email string, ids []string) outcome {
	t.Helper()
	o := outcome{accepted: len(ids)}
	fids := map[string]bool{}
	for _, id := range ids {
		j := cl.waitJob(id, 5*time.Minute)
		switch j.Status {
		case "done":
			o.done++
			fids[*j.MP3FID] = true
		case "failed":
			o.failed++
			t.Errorf("job %s failed: %s", id, deref(j.Error))
		default:
			o.lost++
		}
	}
	o.mp3s, o.videos = c.countBlobs("mp3s"), c.countBlobs("videos")
	// Mails trail the jobs a little; wait for them, then for strays.
	var seen map[string]int
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		seen = map[string]int{}
		for _, m := range testsupport.MailpitInbox(t, api, email) {
			for fid := range fids {
				if strings.Contains(m.Body, "mp3 file_id: "+fid+" ") {
					seen[fid]++
				}
			}
		}
		if len(seen) >= len(fids) || time.Now().After(deadline) {
			break
		}
	}
	time.Sleep(2 * time.Second) // on purpose: stray duplicate mails would come by now
	o.mails = len(testsupport.MailpitInbox(t, api, email))
	for _, n := range seen {
		o.duplicateMails += n - 1
	}
	return o
}

func (o outcome) check(t *testing.T, n int) {
	t.Helper()
	t.Logf("accepted %d, done %d, failed %d, lost %d, MP3s stored %d, videos left %d, mails %d (duplicates %d)",
		o.accepted, o.done, o.failed, o.lost, o.mp3s, o.videos, o.mails, o.duplicateMails)
	if o.done != n || o.failed != 0 || o.lost != 0 || o.mp3s != n || o.videos != 0 || o.mails != n || o.duplicateMails != 0 {
		t.Errorf("want %d done, %d MP3s, no video left, %d mails, nothing failed, lost or duplicated", n, n, n)
	}
}

// TestIntegrationConverterKilled kills one of two converters with SIGKILL
// in the middle of a conversion, during a batch of 20.
func TestIntegrationConverterKilled(t *testing.T) {
	_, api := testsupport.Mailpit(t)
	c := newCluster(t, testsupport.Broker(t))
	email := testsupport.RandomName("crash-") + "@example.com"
	c.addUser(email, "crash-password")
	c.start("auth", "auth")
	c.start("gateway", "gateway")
	victim := c.start("converter-1", "converter", "MP3CONVERTER_WORKERS=1")
	c.start("converter-2", "converter", "MP3CONVERTER_WORKERS=1")
	c.start("notification", "notification")
	cl := login(t, c.gateway, email, "crash-password")
	ids := batch(t, cl, testmedia.Make(t, testmedia.MKV, 20), 20)

	// Kill converter-1 while a job of its own is converting.
	var killed string
	testsupport.Eventually(t, 2*time.Minute, "a job converting on converter-1", func() bool {
		for id := range startedBy(victim) {
			if j, _ := cl.job(id); j.Status == "processing" {
				killed = id
				return true
			}
		}
		return false
	})
	victim.cmd.Process.Signal(syscall.SIGKILL)
	victim.cmd.Wait()
	t.Logf("killed converter-1 converting job %s", killed)

	o := settle(t, c, cl, api, email, ids)
	o.check(t, 20)
	if j, _ := cl.job(killed); j.Attempts < 2 {
		t.Errorf("the job killed mid-conversion shows %d attempts", j.Attempts)
	}
	report(t, "converter-killed.md", "| accepted | done | failed | lost | MP3s stored | mails | duplicates |\n|---|---|---|---|---|---|---|\n",
		[][]string{{fmt.Sprint(o.accepted), fmt.Sprint(o.done), fmt.Sprint(o.failed), fmt.Sprint(o.lost), fmt.Sprint(o.mp3s), fmt.Sprint(o.mails), fmt.Sprint(o.duplicateMails)}})
}

// TestIntegrationBrokerRestart restarts RabbitMQ in the middle of a batch
// of 20.
func TestIntegrationBrokerRestart(t *testing.T) {
	_, api := testsupport.Mailpit(t)
	node := newRabbitNode(t)
	c := newCluster(t, node.URL(""))
	email := testsupport.RandomName("restart-") + "@example.com"
	c.addUser(email, "restart-password")
	c.start("auth", "auth")
	c.start("gateway", "gateway")
	c.start("converter-1", "converter", "MP3CONVERTER_WORKERS=1")
	c.start("converter-2", "converter", "MP3CONVERTER_WORKERS=1")
	c.start("notification", "notification")
	cl := login(t, c.gateway, email, "restart-password")
	ids := batch(t, cl, testmedia.Make(t, testmedia.MKV, 20), 20)

	done := 0
	testsupport.Eventually(t, 2*time.Minute, "4 of 20 jobs done", func() bool {
		done = 0
		for _, j := range cl.jobs("") {
			if j.Status == "done" {
				done++
			}
		}
		return done >= 4
	})
	t.Logf("restarting RabbitMQ with %d of 20 done", done)
	node.Stop()
	time.Sleep(2 * time.Second) // on purpose: the broker's outage
	node.Start()

	o := settle(t, c, cl, api, email, ids)
	o.check(t, 20)
	report(t, "broker-restart.md", "| accepted | done | failed | lost | MP3s stored | mails | duplicates |\n|---|---|---|---|---|---|---|\n",
		[][]string{{fmt.Sprint(o.accepted), fmt.Sprint(o.done), fmt.Sprint(o.failed), fmt.Sprint(o.lost), fmt.Sprint(o.mp3s), fmt.Sprint(o.mails), fmt.Sprint(o.duplicateMails)}})
}

// TestIntegrationPoisonAndDeadLetters: on the real engines, poison inputs
// fail after one attempt and wait as dead letters on video.dead, where the
// dead-letters command lists and re-queues them.
func TestIntegrationPoisonAndDeadLetters(t *testing.T) {
	c := newCluster(t, testsupport.Broker(t))
	email := testsupport.RandomName("poison-") + "@example.com"
	c.addUser(email, "poison-password")
	c.start("auth", "auth")
	c.start("gateway", "gateway")
	c.start("converter", "converter", "MP3CONVERTER_WORKERS=1")
	cl := login(t, c.gateway, email, "poison-password")
	poison := map[string]string{
		"notes.txt":     testmedia.Text(t),
		"random.mp4":    testmedia.Random(t),
		"truncated.mp4": testmedia.Truncated(t),
		"empty.mp4":     testmedia.Empty(t),
		"silent.mp4":    testmedia.Make(t, testmedia.NoAudio, 2),
	}
	var ids []string
	for name, path := range poison {
		ids = append(ids, cl.upload(path, name).JobID)
	}
	for _, id := range ids {
		if j := cl.waitJob(id, time.Minute); j.Status != "failed" || j.Attempts != 1 || deref(j.Error) == "" {
			t.Errorf("poison job %s: %s after %d attempts (%s)", j.Filename, j.Status, j.Attempts, deref(j.Error))
		}
	}
	deadLetters := func() string {
		t.Helper()
		cmd := exec.Command(buildBinary(t), "dead-letters", "list", "--queue", "video")
		cmd.Env = append(os.Environ(), c.env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("dead-letters list: %v\n%s", err, out)
		}
		return string(out)
	}
	list := deadLetters()
	if n := strings.Count(list, "\n") - 1; n != len(poison) || !strings.Contains(list, "the video has no audio track") {
		t.Errorf("dead letters (%d, want %d):\n%s", n, len(poison), list)
	}
	cmd := exec.Command(buildBinary(t), "dead-letters", "requeue", "--queue", "video", "--all")
	cmd.Env = append(os.Environ(), c.env...)
	if out, err := cmd.CombinedOutput(); err != nil || strings.Count(string(out), "requeued") != len(poison) {
		t.Fatalf("dead-letters requeue: %v\n%s", err, out)
	}
	// Re-queued, each is tried once more and fails again, for the same reason.
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		again := 0
		for _, id := range ids {
			if j, _ := cl.job(id); j.Attempts == 2 && j.Status == "failed" {
				again++
			}
		}
		if again == len(ids) {
			break
		}
	}
	for _, id := range ids {
		if j, _ := cl.job(id); j.Attempts != 2 || j.Status != "failed" {
			t.Errorf("re-queued %s: %s after %d attempts", j.Filename, j.Status, j.Attempts)
		}
	}
	if n := strings.Count(deadLetters(), "\n") - 1; n != len(poison) {
		t.Errorf("%d dead letters after the retry, want %d", n, len(poison))
	}
}

// TestIntegrationUserCommands manages users of a MySQL database, given as a
// URL or, as the seed's services are, as MYSQL_* variables.
func TestIntegrationUserCommands(t *testing.T) {
	dbURL := testsupport.MySQL(t)
	if code, _, errs := runCmd(t, "a-long-password\n", "user", "add", "--database-url", dbURL, "--email", "ann@example.com", "--password-stdin", "--admin"); code != 0 {
		t.Fatalf("user add: %s", errs)
	}
	u, _ := url.Parse(dbURL)
	pass, _ := u.User.Password()
	t.Setenv("MYSQL_HOST", u.Hostname())
	t.Setenv("MYSQL_PORT", u.Port())
	t.Setenv("MYSQL_USER", u.User.Username())
	t.Setenv("MYSQL_PASSWORD", pass)
	t.Setenv("MYSQL_DB", strings.TrimPrefix(u.Path, "/"))
	if code, out, errs := runCmd(t, "", "user", "list"); code != 0 || !strings.Contains(out, "ann@example.com") || !strings.Contains(out, "true") {
		t.Errorf("user list from MYSQL_*: %d %q %q", code, out, errs)
	}
	if code, _, errs := runCmd(t, "", "user", "delete", "--email", "ann@example.com"); code != 0 {
		t.Errorf("user delete: %s", errs)
	}
	if _, out, _ := runCmd(t, "", "user", "list"); strings.Contains(out, "ann@") {
		t.Errorf("deleted user listed: %q", out)
	}
}
