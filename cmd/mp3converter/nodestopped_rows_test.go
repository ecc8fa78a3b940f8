//go:build integration

package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter/internal/testsupport"
)

// quorumNodeStopped stops the leader of the quorum video queue mid-batch,
// uploading for 20 s meanwhile, and waits for every job: the report's
// quorum row.
func quorumNodeStopped(t *testing.T, rabbit *testsupport.RabbitCluster, api, src string) []string {
	vhost := rabbit.AddVhost()
	c, cl, email := nodeDeployment(t, rabbit, vhost, "quorum")
	defer c.stopAll()
	ids := batch(t, cl, src, 20)
	waitProcessing(t, cl, ids)
	atStop := statuses(cl, ids)["done"]
	stopped := time.Now()
	leader, down := stopHost(t, rabbit, vhost)
	more, refused := uploadWhile(t, cl, src, 20*time.Second, time.Second) // from the stop, in flight too
	<-down
	t.Logf("quorum: %s was down %v after the stop began", leader.Name, time.Since(stopped).Round(100*time.Millisecond))
	ids = append(ids, more...)
	n, _ := waitFinished(cl, ids, 5*time.Minute)
	took := time.Since(stopped)
	o := settle(t, c, cl, api, email, ids)
	live := rabbit.Leader(vhost, "video")
	if live == nil {
		t.Fatal("the video queue has no leader")
	}
	dead := deadLetterCount(t, live.URL(vhost))
	leftJobs(t, cl, ids)
	t.Logf("quorum: stopped the leader %s with %d of 20 done; %d more uploads accepted, %d refused with 503 meanwhile; all %d done %v after the stop (%v); failed %d, lost %d, dead letters %d, MP3s %d, videos left %d, mails %d (duplicates %d); new leader %s",
		leader.Name, atStop, len(more), refused, len(ids), took.Round(time.Second), n, o.failed, o.lost, dead, o.mp3s, o.videos, o.mails, o.duplicateMails, live.Name)
	if o.done != len(ids) || o.failed+o.lost+dead+o.videos+o.duplicateMails != 0 || o.mp3s != len(ids) || o.mails != len(ids) {
		t.Errorf("quorum: want all %d done, one MP3 and one mail each, nothing failed, lost, dead-lettered or left", len(ids))
	}
	leader.Start() // for the classic run
	return []string{"quorum (3 nodes)", "the leader of video and mp3, down until all were done", fmt.Sprint(len(ids)), fmt.Sprintf("%d of %d", refused, refused+len(more)),
		fmt.Sprintf("%d, all %v after the stop (%d before it)", n["done"], took.Round(time.Second), atStop), fmt.Sprint(len(ids) - n["done"] - n["failed"]), "–", fmt.Sprint(o.failed + o.lost),
		fmt.Sprint(dead), fmt.Sprint(o.mp3s), fmt.Sprint(o.mails), fmt.Sprint(o.duplicateMails)}
}

// classicNodeStopped stops, mid-batch, the node of the classic video queue
// for outage, uploading every 5 s meanwhile, counts what was done and what
// is stuck, starts it again and waits for every job: the report's classic
// row.
func classicNodeStopped(t *testing.T, rabbit *testsupport.RabbitCluster, api, src string, outage time.Duration) []string {
	vhost := rabbit.AddVhost()
	c, cl, email := nodeDeployment(t, rabbit, vhost, "classic")
	defer c.stopAll()
	ids := batch(t, cl, src, 20)
	waitProcessing(t, cl, ids)
	atStop := statuses(cl, ids)["done"]
	start := time.Now()
	host, down := stopHost(t, rabbit, vhost)
	<-down // measured from here: conversions that end while it stops go through
	stopping := time.Since(start)
	atDown := statuses(cl, ids)["done"]
	more, refused := uploadWhile(t, cl, src, outage, 5*time.Second)
	ids = append(ids, more...)
	during := statuses(cl, ids)
	host.Start()
	n, took := waitFinished(cl, ids, 5*time.Minute)
	t.Logf("classic: stopped %s with %d of 20 done, down %v later with %d done; in the %v it was down: %d uploads accepted, %d refused with 503; at its end %v; once it was back: %v after %v",
		host.Name, atStop, stopping.Round(100*time.Millisecond), atDown, outage, len(more), refused, during, n, took.Round(time.Second))
	o := outcome{accepted: len(ids), done: n["done"], failed: n["failed"], lost: len(ids) - n["done"] - n["failed"]}
	if o.lost == 0 {
		o = settle(t, c, cl, api, email, ids)
	} else {
		t.Errorf("classic: %d jobs not done 5 minutes after the node came back", o.lost)
		o.mp3s, o.videos = c.countBlobs("mp3s"), c.countBlobs("videos")
	}
	dead := deadLetterCount(t, host.URL(vhost))
	leftJobs(t, cl, ids)
	t.Logf("classic: failed %d, lost %d, dead letters %d, MP3s %d, videos left %d, mails %d (duplicates %d)",
		o.failed, o.lost, dead, o.mp3s, o.videos, o.mails, o.duplicateMails)
	if o.failed+dead+o.duplicateMails != 0 {
		t.Errorf("classic: want nothing failed, dead-lettered or mailed twice once the node is back")
	}
	return []string{"classic", fmt.Sprintf("the node of video and mp3, for %v", outage), fmt.Sprint(len(ids)), fmt.Sprintf("%d of %d", refused, refused+len(more)),
		fmt.Sprintf("%d (%d more while it stopped, %d before)", during["done"]-atDown, atDown-atStop, atStop), fmt.Sprintf("%d (queued %d, processing %d)", len(ids)-during["done"]-during["failed"], during["queued"], during["processing"]),
		fmt.Sprintf("%d, %v after its return", o.done, took.Round(time.Second)), fmt.Sprint(o.failed + o.lost),
		fmt.Sprint(dead), fmt.Sprint(o.mp3s), fmt.Sprint(o.mails), fmt.Sprint(o.duplicateMails)}
}
