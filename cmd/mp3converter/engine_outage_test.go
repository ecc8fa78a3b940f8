//go:build integration

package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter/internal/testmedia"
	"github.com/mp3converter/mp3converter/internal/testsupport"
)

// newMariaDB starts a MariaDB server of the test's own and returns it and a
// mysql:// URL of a new database on it.
func newMariaDB(t *testing.T) (*testsupport.Server, string) {
	t.Helper()
	dir := t.TempDir()
	install := exec.Command("mariadb-install-db", "--no-defaults", "--datadir="+dir, "--auth-root-authentication-method=normal",
		"--user="+currentUser(), "--skip-test-db")
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("mariadb-install-db: %v\n%s", err, out)
	}
	port := portNumber(t)
	s := testsupport.StartServer(t, "mariadb", fmt.Sprintf("127.0.0.1:%d", port), "mariadbd", "--no-defaults", "--datadir="+dir,
		"--socket="+filepath.Join(dir, "sock"), "--pid-file="+filepath.Join(dir, "pid"), "--port="+strconv.Itoa(port),
		"--bind-address=127.0.0.1", "--skip-grant-tables", "--user="+currentUser())
	t.Setenv("MP3CONVERTER_TEST_MYSQL_URL", fmt.Sprintf("mysql://root@127.0.0.1:%d/test", port))
	return s, testsupport.MySQL(t)
}

func currentUser() string {
	if os.Getuid() == 0 {
		return "root"
	}
	return strconv.Itoa(os.Getuid())
}

// setEnv replaces (or adds) key's value in env.
func setEnv(env []string, key, value string) []string {
	for i, kv := range env {
		if strings.HasPrefix(kv, key+"=") {
			env[i] = key + "=" + value
			return env
		}
	}
	return append(env, key+"="+value)
}

// deadLetterCount is the depth of the dead-letter queues of video and mp3.
func deadLetterCount(t *testing.T, queueURL string) int {
	t.Helper()
	ch := amqpChannel(t, queueURL)
	defer ch.Close()
	n := 0
	for _, q := range []string{"video.dead", "mp3.dead"} {
		info, err := ch.QueueDeclarePassive(q, true, false, false, false, nil)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		n += info.Messages
	}
	return n
}

// TestIntegrationEngineOutage stops, in the middle of a batch, each engine
// of the split deployment in turn (MariaDB, RabbitMQ, FerretDB as GridFS,
// and on a second deployment S3) for 30 s, on servers of the test's own:
// consumers wait, and once the engine is back every accepted job ends
// done, none dead-lettered, none converted or mailed twice.
func TestIntegrationEngineOutage(t *testing.T) {
	_, api := testsupport.Mailpit(t)
	mysql, databaseURL := newMariaDB(t)
	ferret, storeURL := testsupport.FerretDBServer(t)
	rabbit := newRabbitNode(t)
	c := outageCluster(t, rabbit.URL(""), databaseURL, storeURL)
	src := testmedia.Make(t, testmedia.MKV, 30)
	outage := 30 * time.Second
	if s := os.Getenv("MP3CONVERTER_TEST_OUTAGE"); s != "" {
		outage, _ = time.ParseDuration(s)
	}
	var rows [][]string
	total := 0
	for _, e := range []engineStop{
		{"MariaDB (jobs)", mysql.Stop, mysql.Start},
		{"RabbitMQ (queue)", rabbit.Stop, rabbit.Start},
		{"FerretDB (GridFS)", ferret.Stop, ferret.Start},
	} {
		rows = append(rows, outageRow(t, c, api, src, e, outage, &total))
	}
	// The same deployment with its media in S3 (versitygw) instead.
	s3srv := testsupport.S3(t)
	t.Setenv("AWS_ACCESS_KEY_ID", testsupport.S3AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", testsupport.S3SecretKey)
	c.stopAll()
	c = outageCluster(t, rabbit.URL(""), databaseURL, s3srv.URL)
	c.blobs = func(kind string) int { return s3Objects(t, s3srv, kind) }
	total = 0
	rows = append(rows, outageRow(t, c, api, src, engineStop{"versitygw (S3)", s3srv.Stop, s3srv.Start}, outage, &total))
	report(t, "engine-outage.md", "| engine stopped | outage | accepted | done | failed or lost | dead letters | MP3s stored | mails | duplicate mails | most attempts on a job | all done after restart |\n|---|---|---|---|---|---|---|---|---|---|---|\n", rows)
}

// engineStop names an engine and stops and starts it.
type engineStop struct {
	name        string
	stop, start func()
}

// outageCluster is the split deployment on the test's own engines.
func outageCluster(t *testing.T, queueURL, databaseURL, storeURL string) *cluster {
	c := newCluster(t, queueURL)
	c.storeURL = storeURL
	c.env = setEnv(setEnv(c.env, "MP3CONVERTER_DATABASE_URL", databaseURL), "MP3CONVERTER_STORAGE_URL", storeURL)
	c.start("auth", "auth")
	c.start("gateway", "gateway", "MP3CONVERTER_MAX_UPLOADS_PER_USER=16")
	c.start("converter-1", "converter", "MP3CONVERTER_WORKERS=2")
	c.start("converter-2", "converter", "MP3CONVERTER_WORKERS=2")
	c.start("notification", "notification")
	return c
}

// outageRow uploads a batch of 6, stops e mid-batch for outage, and
// checks that every job ends done, once: the row of the report.
func outageRow(t *testing.T, c *cluster, api, src string, e engineStop, outage time.Duration, total *int) []string {
	email := testsupport.RandomName("outage-") + "@example.com"
	c.addUser(email, "outage-password")
	cl := login(t, c.gateway, email, "outage-password")
	ids := batch(t, cl, src, 6)
	*total += len(ids)
	waitProcessing(t, cl, ids)
	e.stop()
	time.Sleep(outage)
	e.start()
	back := time.Now()
	o := settle(t, c, cl, api, email, ids)
	recovery := time.Since(back).Round(time.Second)
	// A job can be done, recorded from its announcement, while its
	// converter still waits out its pause (up to 30 s) before it records
	// the result and deletes the video: give it that long.
	for deadline := time.Now().Add(45 * time.Second); o.videos > 0 && time.Now().Before(deadline); {
		time.Sleep(time.Second)
		o = settle(t, c, cl, api, email, ids)
	}
	dead, attempts := deadLetterCount(t, c.queueURL), maxAttempts(cl, ids)
	t.Logf("%s down %v: accepted %d, done %d, failed %d, lost %d, dead letters %d, MP3s %d of %d, videos left %d, mails %d (duplicates %d), most attempts on a job %d, all done %v after it came back",
		e.name, outage, o.accepted, o.done, o.failed, o.lost, dead, o.mp3s, *total, o.videos, o.mails, o.duplicateMails, attempts, recovery)
	if o.done != len(ids) || o.failed+o.lost+dead+o.videos+o.duplicateMails != 0 || o.mp3s != *total || o.mails != len(ids) {
		t.Errorf("%s outage: want all %d done, one MP3 and one mail each, nothing failed, lost, dead-lettered or left", e.name, len(ids))
	}
	return []string{e.name, outage.String(), fmt.Sprint(o.accepted), fmt.Sprint(o.done), fmt.Sprint(o.failed + o.lost),
		fmt.Sprint(dead), fmt.Sprint(o.mp3s - (*total - len(ids))), fmt.Sprint(o.mails), fmt.Sprint(o.duplicateMails), fmt.Sprint(attempts), recovery.String()}
}

// s3Objects counts the objects of kind in srv's one bucket: the posix
// backend keeps each as a file, BUCKET/KIND/ID.
func s3Objects(t *testing.T, srv *testsupport.S3Server, kind string) int {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(srv.DataDir, "*", kind, "*"))
	return len(files)
}

// maxAttempts is the most attempts a job of ids shows.
func maxAttempts(cl *client, ids []string) int {
	n := 0
	for _, id := range ids {
		j, _ := cl.job(id)
		n = max(n, j.Attempts)
	}
	return n
}

// waitProcessing waits until one of the jobs converts (mid-batch).
func waitProcessing(t *testing.T, cl *client, ids []string) {
	t.Helper()
	testsupport.Eventually(t, time.Minute, "a job of the batch converting", func() bool {
		for _, id := range ids {
			if j, _ := cl.job(id); j.Status == "processing" {
				return true
			}
		}
		return false
	})
}
