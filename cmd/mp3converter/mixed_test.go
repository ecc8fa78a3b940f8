//go:build integration

package main

import (
	"crypto/rand"
	"encoding/json"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/internal/testmedia"
	"github.com/mp3converter/mp3converter/internal/testsupport"
)

// TestIntegrationMixed swaps in one service of the original system at a
// time (the stand-ins of original_test.go) beside three of ours, each as its
// own OS process, on RabbitMQ, GridFS (FerretDB), MariaDB and Mailpit, and
// goes through the seed's curl flow in each mix: ours must be a drop-in
// replacement for each service alone.
func TestIntegrationMixed(t *testing.T) {
	var mu sync.Mutex
	var rows [][]string
	t.Cleanup(func() { // after the parallel mixes
		sort.Slice(rows, func(i, j int) bool { return rows[i][0] < rows[j][0] })
		report(t, "mixed.md", "| original service | ours | seed flow | checks of the mix | result |\n|---|---|---|---|---|\n", rows)
	})
	for _, mx := range []struct {
		name, original string
		run            func(*testing.T, *mix)
	}{
		{"OriginalAuth", "auth", mixedOriginalAuth},
		{"OriginalGateway", "gateway", mixedOriginalGateway},
		{"OriginalConverter", "converter", mixedOriginalConverter},
		{"OriginalNotification", "notification", mixedOriginalNotification},
	} {
		t.Run(mx.name, func(t *testing.T) {
			t.Parallel()
			m := newMix(t, mx.original)
			t.Cleanup(func() {
				mu.Lock()
				rows = append(rows, m.row())
				mu.Unlock()
			})
			mx.run(t, m)
		})
	}
}

// mixedOriginalAuth: tokens come from the original auth (admin: true for
// everyone), but on our gateway admin: true does not make an admin of ours.
func mixedOriginalAuth(t *testing.T, m *mix) {
	auth := startOriginalAuth(t, envValue(m.c.env, "MP3CONVERTER_DATABASE_URL"), m.secret)
	m.c.env = append(m.c.env, "AUTH_SVC_ADDRESS="+auth.addr)
	m.startOurs() // our gateway migrates the original's table
	ann, bob := mixUser("ann"), mixUser("bob")
	auth.addUser(t, ann, "ann-password")
	auth.addUser(t, bob, "bob-password")

	token := m.login(m.c.gateway, ann, "ann-password")
	claims := validate(t, "http://"+auth.addr, token)
	m.check(mixCheck, "token admin:true", claims["admin"] == true && claims["username"] == ann, "original /validate: %v", claims)
	src := testmedia.Make(t, testmedia.MP4, 4)
	acc := m.uploadOurs(m.c.gateway, token, src)
	fid := m.mail(ann)
	cl := &client{t: t, base: m.c.gateway, token: token}
	j := cl.waitJob(acc.JobID, 2*time.Minute)
	m.check(mixCheck, "job done", j.Status == "done" && j.MP3FID != nil && *j.MP3FID == fid, "job %+v, mail names %s", j, fid)
	m.download(m.c.gateway, token, fid, src)

	m.secondUser(m.c.gateway, bob, "bob-password", true)
	m.onlyOwn(cl, ann, acc.JobID)
}

// mixedOriginalGateway: the original gateway in front of our auth; a user
// who is not our admin uploads and downloads through it, and our side sees
// the job the upload made.
func mixedOriginalGateway(t *testing.T, m *mix) {
	m.startOurs()
	authAddr := envValue(m.c.env, "AUTH_SVC_ADDRESS")
	gw := startOriginalGateway(t, authAddr, m.c.storeURL, m.c.queueURL)
	ann, bob := mixUser("ann"), mixUser("bob")
	m.c.addUser(ann, "ann-password") // not admins
	m.c.addUser(bob, "bob-password")

	token := m.login(gw.URL, ann, "ann-password")
	claims := validate(t, "http://"+authAddr, token)
	m.check(mixCheck, "admin:true, not our admin", claims["admin"] == true && claims["mp3converter_admin"] != true,
		"our auth's /validate: %v", claims)
	src := testmedia.Make(t, testmedia.MP4, 4)
	if body := m.upload(gw.URL, token, src); !m.check(flowCheck, "upload", body == "success!", "original gateway answered %q", body) {
		t.FailNow()
	}
	fid := m.mail(ann)
	m.download(gw.URL, token, fid, src)

	// Our side: the job our converter made for the upload, keyed by the
	// video's fid, as our own gateway shows it.
	var sent struct {
		VideoFID string `json:"video_fid"`
	}
	if msgs := gw.videoMessages(); len(msgs) != 1 || json.Unmarshal([]byte(msgs[0]), &sent) != nil {
		t.Fatalf("the original gateway published %q", msgs)
	}
	m.c.start("gateway", "gateway")
	cl := &client{t: t, base: m.c.gateway, token: token}
	j := m.jobDetail(cl, sent.VideoFID)
	srcInfo, _ := os.Stat(src)
	m.check(mixCheck, "our job done", j.Status == "done" && j.MP3FID != nil && *j.MP3FID == fid, "job %+v, mail names %s", j, fid)
	m.check(mixCheck, "job named", j.Filename != "" && j.Filename != sent.VideoFID, "job filename %q", j.Filename)
	m.check(mixCheck, "video size", j.Size == srcInfo.Size(), "job size %d, video %d", j.Size, srcInfo.Size())

	m.secondUser(gw.URL, bob, "bob-password", false)
	m.onlyOwn(cl, ann, sent.VideoFID)
}

// mixedOriginalConverter: our job follows the original converter's work
// through our notification role, and deleting it removes the MP3.
func mixedOriginalConverter(t *testing.T, m *mix) {
	m.startOurs()
	conv := startOriginalConverter(t, m.c.storeURL, m.c.queueURL)
	ann := mixUser("ann")
	m.c.addUser(ann, "ann-password")

	token := m.login(m.c.gateway, ann, "ann-password")
	src := testmedia.Make(t, testmedia.MP4, 4)
	acc := m.uploadOurs(m.c.gateway, token, src)
	fid := m.mail(ann)
	m.check(mixCheck, "MP3 by original", slices.Contains(conv.storedMP3s(), fid), "the original stored %v", conv.storedMP3s())
	cl := &client{t: t, base: m.c.gateway, token: token}
	j := m.jobDetail(cl, acc.JobID)
	if !m.check(mixCheck, "our job done", j.Status == "done" && j.MP3FID != nil && *j.MP3FID == fid, "job %+v, mail names %s", j, fid) {
		t.FailNow()
	}
	out := m.download(m.c.gateway, token, fid, src)
	outInfo, _ := os.Stat(out)
	m.check(mixCheck, "mp3 size", j.MP3Size == outInfo.Size(), "job mp3_size %d, MP3 %d bytes", j.MP3Size, outInfo.Size())

	resp, body := do(t, cl.request("DELETE", "/jobs/"+acc.JobID, nil))
	m.check(mixCheck, "DELETE 204", resp.StatusCode == http.StatusNoContent, "DELETE /jobs/%s: %s %s", acc.JobID, resp.Status, body)
	n := gridfsCount(t, m.c.storeURL, "mp3s", fid)
	m.check(mixCheck, "MP3 gone", n == 0, "mp3s.fs.files holds %d files with _id %s", n, fid)
}

// mixedOriginalNotification: our converter's announcement is mailed by the
// original notification, in its own format.
func mixedOriginalNotification(t *testing.T, m *mix) {
	m.startOurs()
	startOriginalNotification(t, m.c.queueURL, m.smtp)
	ann := mixUser("ann")
	m.c.addUser(ann, "ann-password")

	token := m.login(m.c.gateway, ann, "ann-password")
	src := testmedia.Make(t, testmedia.MP4, 4)
	acc := m.uploadOurs(m.c.gateway, token, src)
	cl := &client{t: t, base: m.c.gateway, token: token}
	j := cl.waitJob(acc.JobID, 2*time.Minute)
	if !m.check(mixCheck, "our job done", j.Status == "done" && j.MP3FID != nil, "job %+v", j) {
		t.FailNow()
	}
	fid := m.mail(ann)
	want := "mp3 file_id: " + *j.MP3FID + " is now ready!"
	m.check(mixCheck, "original's mail", fid == *j.MP3FID && strings.TrimSpace(m.mailBody) == want, "mail body %q, want %q", m.mailBody, want)
	m.download(m.c.gateway, token, fid, src)
}

// mix is one mix of services on engines of its own, and what was checked.
type mix struct {
	t        *testing.T
	c        *cluster
	original string // the original's service in the mix
	api      string // Mailpit's API
	smtp     string // Mailpit's SMTP address
	secret   string // JWT_SECRET, shared by both sides
	mailBody string // the last mail's body
	checks   []mixResult
}

type mixResult struct {
	group, what string
	ok          bool
}

// The groups of checks, the columns of the report.
const (
	flowCheck = "flow" // the seed's curl flow
	mixCheck  = "mix"  // what the mix adds
)

func newMix(t *testing.T, original string) *mix {
	smtpAddr, api := testsupport.Mailpit(t)
	c := newCluster(t, testsupport.Broker(t))
	secret := rand.Text() + rand.Text() // 52 random characters
	c.env = append(c.env, "JWT_SECRET="+secret)
	queuesByHand(t, c.queueURL)
	return &mix{t: t, c: c, original: original, api: api, smtp: smtpAddr, secret: secret}
}

// ourServices are our roles, in the order they start: auth before the
// gateway, which forwards logins to it.
var ourServices = []string{"auth", "gateway", "converter", "notification"}

// startOurs starts our roles but the one the original's service stands
// for, each as a process of its own.
func (m *mix) startOurs() {
	m.t.Helper()
	for _, s := range ourServices {
		if s != m.original {
			m.c.start(s, s)
		}
	}
}

// secondUser has another user convert a video through gateway (ours or
// the original's), so that a list of everyone's jobs would show theirs.
func (m *mix) secondUser(gateway, email, password string, ours bool) {
	m.t.Helper()
	token := m.login(gateway, email, password)
	video := testmedia.Make(m.t, testmedia.MKV, 2)
	if ours {
		m.uploadOurs(gateway, token, video)
	} else {
		m.upload(gateway, token, video)
	}
	m.mail(email)
}

// check records a check of group and fails the test if !ok.
func (m *mix) check(group, what string, ok bool, format string, args ...any) bool {
	m.t.Helper()
	m.checks = append(m.checks, mixResult{group, what, ok})
	if !ok {
		m.t.Errorf(what+": "+format, args...)
	}
	return ok
}

// row is the mix's line in the report.
func (m *mix) row() []string {
	var ours []string
	for _, s := range ourServices {
		if s != m.original {
			ours = append(ours, s)
		}
	}
	cells := map[string][]string{}
	for _, c := range m.checks {
		if !c.ok {
			c.what = "FAILED " + c.what
		}
		if !slices.Contains(cells[c.group], c.what) {
			cells[c.group] = append(cells[c.group], c.what)
		}
	}
	result := "pass"
	if m.t.Failed() {
		result = "FAIL"
	}
	m.t.Logf("original %s: checked %v", m.original, m.checks)
	return []string{m.original, strings.Join(ours, ", "), strings.Join(cells[flowCheck], ", "), strings.Join(cells[mixCheck], ", "), result}
}

func mixUser(name string) string { return testsupport.RandomName(name+"-") + "@example.com" }

// envValue returns the last value of key in env, as exec uses it.
func envValue(env []string, key string) string {
	var v string
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == key {
			v = val
		}
	}
	return v
}

// login is step 1 of the seed's flow:
// curl -X POST <gateway>/login -u <email>:<password>.
func (m *mix) login(gateway, email, password string) string {
	m.t.Helper()
	token := curl(m.t, "-X", "POST", gateway+"/login", "-u", email+":"+password)
	m.check(flowCheck, "login", strings.Count(token, ".") == 2, "login printed %q, not a JWT", token)
	return token
}

// upload is step 2: curl -X POST -F 'file=@<video>' -H 'Authorization:
// Bearer <jwt>' <gateway>/upload. It returns what curl printed.
func (m *mix) upload(gateway, token, video string) string {
	m.t.Helper()
	return curl(m.t, "-X", "POST", "-F", "file=@"+video, "-H", "Authorization: Bearer "+token, gateway+"/upload")
}

// uploadOurs is step 2 on our gateway, which answers with the job.
func (m *mix) uploadOurs(gateway, token, video string) accepted {
	m.t.Helper()
	var a accepted
	out := m.upload(gateway, token, video)
	err := json.Unmarshal([]byte(out), &a)
	if !m.check(flowCheck, "upload", err == nil && a.JobID != "" && a.VideoFID != "", "our gateway answered %q", out) {
		m.t.FailNow()
	}
	return a
}

var mailRE = regexp.MustCompile(`mp3 file_id: ([0-9a-f]{24}) is now ready!`)

// mail waits for the one mail to email and returns the MP3 fid it names,
// which came in the message on mp3 (step 3).
func (m *mix) mail(email string) string {
	m.t.Helper()
	var got []mp3converter.Mail
	testsupport.Eventually(m.t, 2*time.Minute, "a mail to "+email, func() bool {
		got = testsupport.MailpitInbox(m.t, m.api, email)
		return len(got) > 0
	})
	if len(got) != 1 {
		m.t.Fatalf("%d mails to %s, want 1: %+v", len(got), email, got)
	}
	match := mailRE.FindStringSubmatch(got[0].Body)
	m.mailBody = got[0].Body
	m.check(flowCheck, "mail", got[0].To == email && got[0].Subject == "MP3 Download" && match != nil,
		"mail to %s, subject %q: %q", got[0].To, got[0].Subject, got[0].Body)
	if match == nil {
		m.t.FailNow()
	}
	m.check(flowCheck, "mp3 message", true, "")
	return match[1]
}

// download is step 4, curl --output out.mp3 -H 'Authorization: Bearer
// <jwt>' '<gateway>/download?fid=<mp3_fid>', and ffprobe checks the MP3
// against the source. It returns the MP3's path.
func (m *mix) download(gateway, token, fid, src string) string {
	m.t.Helper()
	out := filepath.Join(m.t.TempDir(), "out.mp3")
	curl(m.t, "--output", out, "-H", "Authorization: Bearer "+token, gateway+"/download?fid="+fid)
	_, want := testmedia.Probe(m.t, src)
	format, got := testmedia.Probe(m.t, out)
	m.check(flowCheck, "download", format == "mp3" && math.Abs(got-want) <= 0.5, "downloaded %s of %.2f s, source %.2f s", format, got, want)
	return out
}

// validate posts a token to an auth service's /validate and returns the
// claims it answers with.
func validate(t *testing.T, base, token string) map[string]any {
	t.Helper()
	c := &client{t: t, base: base, token: token}
	resp, body := do(t, c.request("POST", "/validate", nil))
	var claims map[string]any
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &claims) != nil {
		t.Fatalf("POST %s/validate: %s %s", base, resp.Status, body)
	}
	return claims
}

// mixedJob is a job as our gateway shows it, with its sizes.
type mixedJob struct {
	jobView
	Size    int64 `json:"size"`
	MP3Size int64 `json:"mp3_size"`
}

// jobDetail waits for a job to end and returns it.
func (m *mix) jobDetail(cl *client, id string) mixedJob {
	m.t.Helper()
	cl.waitJob(id, 2*time.Minute)
	resp, body := do(m.t, cl.request("GET", "/jobs/"+id, nil))
	var j mixedJob
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &j) != nil {
		m.t.Fatalf("GET /jobs/%s: %s %s", id, resp.Status, body)
	}
	return j
}

// onlyOwn checks that GET /jobs?all=true with cl's token lists just the
// jobs ids, all owner's.
func (m *mix) onlyOwn(cl *client, owner string, ids ...string) {
	m.t.Helper()
	var got []string
	for _, j := range cl.jobs("?all=true") {
		got = append(got, j.ID+" of "+j.Owner)
	}
	var want []string
	for _, id := range ids {
		want = append(want, id+" of "+owner)
	}
	m.check(mixCheck, "all=true: own jobs only", slices.Equal(got, want), "GET /jobs?all=true listed %q, want %q", got, want)
}
