package main

import (
	"fmt"
	"math"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter/internal/testmedia"
	"github.com/mp3converter/mp3converter/internal/testsupport"
)

// TestKillAndRestart kills the real binary with SIGKILL while jobs are
// queued and one is converting, starts it again on the same data dir, and
// checks that every accepted job reaches done with a whole MP3.
func TestKillAndRestart(t *testing.T) {
	dataDir := t.TempDir()
	addr := testsupport.FreeAddr(t)
	env := []string{
		"MP3CONVERTER_DATA_DIR=" + dataDir, "MP3CONVERTER_ADDR=" + addr, "MP3CONVERTER_WORKERS=1",
		"MP3CONVERTER_ADMIN_EMAIL=ann@example.com", "MP3CONVERTER_ADMIN_PASSWORD=ann-password",
	}
	base := "http://" + addr
	p := startProcess(t, env, "serve")
	waitReady(t, base, 30*time.Second)
	c := login(t, base, "ann@example.com", "ann-password")

	src := testmedia.Make(t, testmedia.MKV, 60)
	const n = 6
	var ids []string
	for i := range n {
		ids = append(ids, c.upload(src, fmt.Sprintf("clip-%d.mkv", i)).JobID)
	}
	// Kill once a conversion is under way.
	var statuses map[string]int
	var converting string
	testsupport.Eventually(t, 30*time.Second, "a job converting", func() bool {
		statuses = map[string]int{}
		for _, j := range c.jobs("") {
			statuses[j.Status]++
			if j.Status == "processing" {
				converting = j.ID
			}
		}
		return statuses["processing"] > 0
	})
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.cmd.Wait()
	t.Logf("killed with jobs %v", statuses)
	if statuses["queued"] == 0 {
		t.Fatalf("want queued jobs at the kill: %v", statuses)
	}

	p2 := startProcess(t, env, "serve")
	waitReady(t, base, 30*time.Second)
	_, srcSeconds := testmedia.Probe(t, src)
	dir := t.TempDir()
	for _, id := range ids {
		j := c.waitJob(id, 3*time.Minute)
		if j.Status != "done" {
			t.Errorf("job %s ended %s: %s", id, j.Status, deref(j.Error))
			continue
		}
		if id == converting && j.Attempts != 2 {
			t.Errorf("the job killed mid-conversion shows %d attempts, want 2", j.Attempts)
		}
		path, _ := c.download(*j.MP3FID, dir)
		if format, d := testmedia.Probe(t, path); format != "mp3" || math.Abs(d-srcSeconds) > 0.5 {
			t.Errorf("job %s: %s of %.2f s, want mp3 of %.2f s", id, format, d, srcSeconds)
		}
	}
	// No duplicates: one MP3 and one notice per job.
	if n := countFiles(t, dataDir, "mp3s"); n != len(ids) {
		t.Errorf("%d MP3s stored for %d jobs", n, len(ids))
	}
	time.Sleep(time.Second) // let the last notice go out
	if m := strings.Count(p.output(), "msg=MailNotSent") + strings.Count(p2.output(), "msg=MailNotSent"); m != len(ids) {
		t.Errorf("%d notices for %d jobs", m, len(ids))
	}
	// No temp file of the killed run is left.
	if entries, _ := os.ReadDir(dataDir + "/tmp"); len(entries) != 0 {
		t.Errorf("temp files left: %d", len(entries))
	}
}
