//go:build integration

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mp3converter/mp3converter/internal/testmedia"
	"github.com/mp3converter/mp3converter/internal/testsupport"
)

// cluster runs roles as separate OS processes of the built binary, on the
// real engines.
type cluster struct {
	t        testing.TB
	env      []string
	queueURL string
	storeURL string
	// blobs counts the blobs of a kind (videos, mp3s) in the storage:
	// GridFS's unless the test stores elsewhere.
	blobs   func(kind string) int
	gateway string // base URL
	mu      sync.Mutex
	procs   map[string]*process
	addrs   map[string]string // each process's HTTP (or health) address
}

func newCluster(t testing.TB, queueURL string) *cluster {
	smtpAddr, _ := testsupport.Mailpit(t)
	c := &cluster{t: t, queueURL: queueURL, storeURL: testsupport.FerretDB(t), procs: map[string]*process{}, addrs: map[string]string{}}
	c.env = []string{
		"MP3CONVERTER_DATABASE_URL=" + testsupport.MySQL(t),
		"MP3CONVERTER_QUEUE_URL=" + queueURL,
		"MP3CONVERTER_STORAGE_URL=" + c.storeURL,
		"MP3CONVERTER_SMTP_URL=smtp://" + smtpAddr,
		"MP3CONVERTER_MAIL_FROM=mp3converter@example.com",
		"JWT_SECRET=" + testsupport.RandomName("jwt-secret-for-tests-"),
		"MP3CONVERTER_SHUTDOWN_GRACE=5s",
		"MP3CONVERTER_TEMP_DIR=" + t.TempDir(),
		// Tests upload batches of up to 20 at once as one user.
		"MP3CONVERTER_MAX_UPLOADS_PER_USER=64",
	}
	return c
}

// countBlobs counts the blobs of kind (videos, mp3s) in the storage.
func (c *cluster) countBlobs(kind string) int {
	if c.blobs != nil {
		return c.blobs(kind)
	}
	return int(gridfsFiles(c.t, c.storeURL, kind))
}

// stopAll ends every process of the cluster as an operator would.
func (c *cluster) stopAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, p := range c.procs {
		p.cmd.Process.Signal(syscall.SIGTERM)
		testsupport.WaitOrKill(p.cmd, 30*time.Second)
		delete(c.procs, name)
	}
}

// start runs a role and waits until it is ready.
func (c *cluster) start(name, role string, env ...string) *process {
	c.t.Helper()
	addr := testsupport.FreeAddr(c.t)
	env = append(append([]string{}, c.env...), env...)
	env = append(env, "MP3CONVERTER_ADDR="+addr, "MP3CONVERTER_HEALTH_ADDR="+addr)
	p := startProcess(c.t, env, role)
	waitReady(c.t, "http://"+addr, 60*time.Second)
	c.mu.Lock()
	c.procs[name] = p
	c.addrs[name] = addr
	c.mu.Unlock()
	if role == "auth" {
		c.env = append(c.env, "AUTH_SVC_ADDRESS="+addr)
	}
	if role == "gateway" {
		c.gateway = "http://" + addr
		c.env = append(c.env, "MP3CONVERTER_PUBLIC_URL="+c.gateway)
	}
	return p
}

// addUser runs `mp3converter user add` against the cluster's database.
func (c *cluster) addUser(email, password string) {
	c.t.Helper()
	cmd := exec.Command(buildBinary(c.t), "user", "add", "--email", email, "--password-stdin")
	cmd.Env = append(os.Environ(), c.env...)
	cmd.Stdin = strings.NewReader(password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		c.t.Fatalf("user add: %v\n%s", err, out)
	}
}

func curl(t *testing.T, args ...string) string {
	t.Helper()
	headers := filepath.Join(t.TempDir(), "headers")
	out, err := exec.Command("curl", append([]string{"-sS", "--fail-with-body", "-D", headers}, args...)...).Output()
	if err != nil {
		t.Fatalf("curl %v: %v\n%s", args, err, out)
	}
	checkCurl(t, args, headers, out)
	return string(out)
}

// startedBy returns the job ids a converter's log says it started.
var startedRE = regexp.MustCompile(`msg=ConversionStarted .*job_id=([0-9a-f]{24})`)

func startedBy(p *process) map[string]bool {
	out := map[string]bool{}
	for _, m := range startedRE.FindAllStringSubmatch(p.output(), -1) {
		out[m[1]] = true
	}
	return out
}

// TestIntegrationMultiProcess runs auth, gateway, two converters and
// notification as separate processes on MySQL, RabbitMQ, FerretDB (GridFS)
// and Mailpit, and goes through the seed's curl flow.
func TestIntegrationMultiProcess(t *testing.T) {
	_, api := testsupport.Mailpit(t)
	c := newCluster(t, testsupport.Broker(t))
	email := testsupport.RandomName("user-") + "@example.com"
	c.addUser(email, "curl-password")
	c.start("auth", "auth")
	c.start("gateway", "gateway")
	conv1 := c.start("converter-1", "converter", "MP3CONVERTER_WORKERS=1")
	conv2 := c.start("converter-2", "converter", "MP3CONVERTER_WORKERS=1")

	cl, mp3FID := multiProcessCurlFlow(t, c, email)

	// The notification role mails the user, naming the mp3 fid.
	c.start("notification", "notification")
	var mails []string
	testsupport.Eventually(t, 30*time.Second, "a mail to "+email, func() bool {
		for _, m := range testsupport.MailpitInbox(t, api, email) {
			mails = append(mails, m.Body)
		}
		return len(mails) > 0
	})
	if len(mails) != 1 || !strings.Contains(mails[0], "mp3 file_id: "+mp3FID+" is now ready!") {
		t.Errorf("mails to %s: %q", email, mails)
	}

	multiProcessSeedMessage(t, c, cl, email)
	multiProcessBatch(t, cl, conv1, conv2)
	multiProcessAuthDown(t, c, cl, email)
}

// multiProcessCurlFlow goes through the seed's curl flow as email: login,
// upload, the message on mp3, download and a range request. It returns
// email's client and the MP3's fid.
func multiProcessCurlFlow(t *testing.T, c *cluster, email string) (*client, string) {
	// 1. curl -X POST http://mp3converter.com/login -u <email>:<password>
	token := curl(t, "-X", "POST", c.gateway+"/login", "-u", email+":curl-password")
	if strings.Count(token, ".") != 2 {
		t.Fatalf("login printed %q, not a JWT", token)
	}
	// 2. curl -X POST -F 'file=@./test.mkv' -H 'Authorization: Bearer <jwt>' .../upload
	dir := t.TempDir()
	mkv := filepath.Join(dir, "test.mkv")
	copyFile(t, testmedia.Make(t, testmedia.MKV, 5), mkv)
	var acc accepted
	if err := json.Unmarshal([]byte(curl(t, "-X", "POST", "-F", "file=@"+mkv, "-H", "Authorization: Bearer "+token, c.gateway+"/upload")), &acc); err != nil {
		t.Fatal(err)
	}
	cl := &client{t: t, base: c.gateway, token: token}
	j := cl.waitJob(acc.JobID, 2*time.Minute)
	if j.Status != "done" {
		t.Fatalf("job %s: %s", j.Status, deref(j.Error))
	}
	mp3FID := *j.MP3FID

	// 3. The message on mp3 carries video_fid, mp3_fid and username. The
	// notification role is not running yet, so it waits there.
	msg := peekMessage(t, c.queueURL, "mp3")
	if msg["video_fid"] != acc.VideoFID || msg["mp3_fid"] != mp3FID || msg["username"] != email {
		t.Errorf("message on mp3 = %v", msg)
	}
	// The MP3 is in GridFS database mp3s, bucket fs.
	if n := gridfsCount(t, c.storeURL, "mp3s", mp3FID); n != 1 {
		t.Errorf("mp3s.fs.files holds %d files with _id %s, want 1", n, mp3FID)
	}
	// The source video was deleted after conversion.
	if n := gridfsCount(t, c.storeURL, "videos", acc.VideoFID); n != 0 {
		t.Errorf("the converted video is still stored")
	}

	// 4. curl --output out.mp3 -H 'Authorization: Bearer <jwt>' '.../download?fid=<mp3_fid>'
	out := filepath.Join(dir, "out.mp3")
	curl(t, "--output", out, "-H", "Authorization: Bearer "+token, c.gateway+"/download?fid="+mp3FID)
	_, srcSeconds := testmedia.Probe(t, mkv)
	if format, d := testmedia.Probe(t, out); format != "mp3" || math.Abs(d-srcSeconds) > 0.5 {
		t.Errorf("download is %s of %.2f s, source %.2f s", format, d, srcSeconds)
	}

	// Range requests are served from GridFS.
	req := cl.request("GET", "/download?fid="+mp3FID, nil)
	req.Header.Set("Range", "bytes=100-199")
	whole, _ := os.ReadFile(out)
	if resp, part := do(t, req); resp.StatusCode != http.StatusPartialContent || string(part) != string(whole[100:200]) {
		t.Errorf("range request: %d, %d bytes, match %v", resp.StatusCode, len(part), string(part) == string(whole[100:200]))
	}
	return cl, mp3FID
}

// multiProcessSeedMessage checks that a seed gateway's message (no job_id)
// converts too: swapping services one at a time works. The video goes into
// GridFS as pymongo puts it.
func multiProcessSeedMessage(t *testing.T, c *cluster, cl *client, email string) {
	seedVideo := gridfsPut(t, c.storeURL, "videos", testmedia.Make(t, testmedia.WebM, 2))
	publishRaw(t, c.queueURL, "video", fmt.Sprintf(`{"video_fid": %q, "mp3_fid": null, "username": %q}`, seedVideo, email))
	// The converter makes the job, keyed by the video's fid, when it takes
	// the message.
	testsupport.Eventually(t, time.Minute, "the seed message's job", func() bool {
		_, code := cl.job(seedVideo)
		return code == 200
	})
	sj := cl.waitJob(seedVideo, time.Minute)
	if sj.Status != "done" || sj.MP3FID == nil || gridfsCount(t, c.storeURL, "mp3s", *sj.MP3FID) != 1 {
		t.Errorf("seed-style message: job %+v", sj)
	}
}

// multiProcessBatch uploads ten videos at once and checks that both
// converters take jobs.
func multiProcessBatch(t *testing.T, cl *client, conv1, conv2 *process) {
	ids := batch(t, cl, testmedia.Make(t, testmedia.MP4, 20), 10)
	for _, id := range ids {
		if j := cl.waitJob(id, 3*time.Minute); j.Status != "done" {
			t.Errorf("batch job %s: %s %s", id, j.Status, deref(j.Error))
		}
	}
	by1, by2 := startedBy(conv1), startedBy(conv2)
	n1, n2 := 0, 0
	for _, id := range ids {
		if by1[id] {
			n1++
		}
		if by2[id] {
			n2++
		}
	}
	t.Logf("converter-1 took %d jobs, converter-2 took %d", n1, n2)
	if n1 == 0 || n2 == 0 || n1+n2 < 10 {
		t.Errorf("converters took %d and %d of 10 jobs; want both working", n1, n2)
	}
}

// multiProcessAuthDown kills auth: the gateway checks tokens itself, so
// signed-in users go on; only logins fail, with 503.
func multiProcessAuthDown(t *testing.T, c *cluster, cl *client, email string) {
	auth := c.procs["auth"]
	auth.cmd.Process.Kill()
	auth.cmd.Wait()
	if js := cl.jobs(""); len(js) != 12 {
		t.Errorf("with auth down, GET /jobs listed %d jobs, want 12", len(js))
	}
	req := cl.request("POST", "/login", nil)
	req.SetBasicAuth(email, "curl-password")
	if resp, body := do(t, req); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("login with auth down: %d %q, want 503", resp.StatusCode, body)
	}
}

// amqpChannel opens a channel, closed when the test ends.
func amqpChannel(t *testing.T, queueURL string) *amqp.Channel {
	t.Helper()
	conn, err := amqp.Dial(queueURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// publishRaw puts a persistent message on a queue, as the seed's services do.
func publishRaw(t *testing.T, queueURL, queue, body string) {
	t.Helper()
	ch := amqpChannel(t, queueURL)
	defer ch.Close()
	err := ch.PublishWithContext(context.Background(), "", queue, false, false,
		amqp.Publishing{DeliveryMode: amqp.Persistent, ContentType: "application/json", Body: []byte(body)})
	if err != nil {
		t.Fatal(err)
	}
}

// mongoDB connects to a database, for the rest of the test.
func mongoDB(t testing.TB, uri, db string) *mongo.Database {
	t.Helper()
	client, err := mongo.Connect(options.Client().ApplyURI(uri).SetTimeout(30 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Disconnect(context.Background()) })
	return client.Database(db)
}

// gridfsPut stores a file with a driver-generated ObjectId and no name, as
// the seed's fs.put(data) does, and returns the id's hex.
func gridfsPut(t *testing.T, uri, db, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	id, err := mongoDB(t, uri, db).GridFSBucket().UploadFromStream(context.Background(), "", f)
	if err != nil {
		t.Fatal(err)
	}
	return id.Hex()
}

// peekMessage reads the next message of a queue without taking it.
func peekMessage(t *testing.T, queueURL, queue string) map[string]any {
	t.Helper()
	ch := amqpChannel(t, queueURL)
	defer ch.Close() // returns the message to the queue
	d, ok, err := ch.Get(queue, false)
	if err != nil || !ok {
		t.Fatalf("no message on %s: %v", queue, err)
	}
	var m map[string]any
	if err := json.Unmarshal(d.Body, &m); err != nil {
		t.Fatalf("message on %s is not JSON: %s", queue, d.Body)
	}
	if d.DeliveryMode != amqp.Persistent {
		t.Errorf("message on %s is not persistent", queue)
	}
	return m
}

// gridfsCount counts files with the ObjectId fid in db's bucket fs.
func gridfsCount(t *testing.T, uri, db, fid string) int64 {
	t.Helper()
	oid, err := bson.ObjectIDFromHex(fid)
	if err != nil {
		t.Fatal(err)
	}
	n, err := mongoDB(t, uri, db).Collection("fs.files").CountDocuments(context.Background(), bson.D{{Key: "_id", Value: oid}})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// gridfsFiles counts the files in db's bucket fs.
func gridfsFiles(t testing.TB, uri, db string) int64 {
	t.Helper()
	n, err := mongoDB(t, uri, db).Collection("fs.files").CountDocuments(context.Background(), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkCurl checks the answer curl got for args: its headers, dumped to
// headerFile by -D, and body, what it printed or wrote to --output.
func checkCurl(t *testing.T, args []string, headerFile string, body []byte) {
	t.Helper()
	method, target := "GET", ""
	for i, a := range args {
		switch {
		case a == "-X" && i+1 < len(args):
			method = args[i+1]
		case (a == "-F" || a == "-d") && method == "GET":
			method = "POST"
		case a == "--output" && i+1 < len(args):
			b, err := os.ReadFile(args[i+1])
			if err != nil {
				t.Fatal(err)
			}
			body = b
		case strings.HasPrefix(a, "http://"):
			target = a
		}
	}
	req, err := http.NewRequest(method, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	dump, err := os.ReadFile(headerFile)
	if err != nil {
		t.Fatal(err)
	}
	// The dump holds every response, 100 Continue included; the last counts.
	blocks := strings.Split(strings.TrimSpace(string(dump)), "\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(blocks[len(blocks)-1]+"\r\n\r\n")), req)
	if err != nil {
		t.Fatalf("curl %v: headers %q: %v", args, dump, err)
	}
	checkAPI(t, req, resp, body)
}
