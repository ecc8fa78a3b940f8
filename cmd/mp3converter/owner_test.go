//go:build integration

package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter/internal/testmedia"
	"github.com/mp3converter/mp3converter/internal/testsupport"
)

// TestIntegrationMixedCaseOwner is a team migrating one service at a time:
// the original gateway and auth, whose user row is Mixed.Case@Example.COM,
// with our converter and notification; then our gateway beside them. The
// upload travels in the seed's message format, with the address as the
// original spells it. The mail goes to that spelling, and through our
// gateway every route answers the owner, with the original's token: the
// job is one owner's, mixed.case@example.com, however it is spelt.
func TestIntegrationMixedCaseOwner(t *testing.T) {
	m := newMix(t, "gateway")
	auth := startOriginalAuth(t, envValue(m.c.env, "MP3CONVERTER_DATABASE_URL"), m.secret)
	m.c.env = append(m.c.env, "AUTH_SVC_ADDRESS="+auth.addr)
	// Its own address in every run: Mailpit keeps the mails of earlier
	// runs, and one of them was taken for this run's before the job was
	// done.
	owner := testsupport.RandomName("Mixed.Case.") + "@Example.COM"
	m.c.start("converter", "converter")
	m.c.start("notification", "notification")
	auth.addUser(t, owner, "mixed-password")
	gw := startOriginalGateway(t, auth.addr, m.c.storeURL, m.c.queueURL)
	token := m.login(gw.URL, owner, "mixed-password")
	src := testmedia.Make(t, testmedia.MP4, 3)
	if body := m.upload(gw.URL, token, src); body != "success!" {
		t.Fatalf("the original gateway answered %q", body)
	}
	var sent struct {
		VideoFID string `json:"video_fid"`
		Username string `json:"username"`
	}
	if msgs := gw.videoMessages(); len(msgs) != 1 || json.Unmarshal([]byte(msgs[0]), &sent) != nil || sent.Username != owner {
		t.Fatalf("the original gateway published %q", msgs)
	}
	fid := m.mail(owner) // checks the mail's To is the spelling given

	m.c.start("gateway", "gateway", "MP3CONVERTER_WEBHOOK_ALLOW_PRIVATE=true") // a receiver on loopback
	cl := &client{t: t, base: m.c.gateway, token: token}
	codes := map[string]int{}
	jobs := cl.jobs("")
	codes["GET /jobs lists it"] = boolCode(len(jobs) == 1 && jobs[0].ID == sent.VideoFID)
	j, code := cl.job(sent.VideoFID)
	codes["GET /jobs/{id}"] = code
	if j.MP3FID == nil || *j.MP3FID != fid || j.Owner != strings.ToLower(owner) {
		t.Errorf("the job: %+v, want done with MP3 %s, owner %s", j, fid, strings.ToLower(owner))
	}
	resp, _ := do(t, cl.request("GET", "/download?fid="+fid, nil))
	codes["GET /download"] = resp.StatusCode
	codes["GET /jobs/events has it"] = boolCode(streamHas(t, cl, sent.VideoFID))
	resp, _ = do(t, jsonRequest(cl, "POST", "/webhooks", `{"url": "http://127.0.0.1:9/mixed"}`))
	codes["POST /webhooks"] = resp.StatusCode
	codes["GET /webhooks lists it"] = boolCode(len(listWebhooks(t, cl)) == 1)
	resp, _ = do(t, cl.request("DELETE", "/jobs/"+sent.VideoFID, nil))
	codes["DELETE /jobs/{id}"] = resp.StatusCode
	var rows [][]string
	for route, code := range codes {
		rows = append(rows, []string{route, http.StatusText(code)})
		if code/100 != 2 {
			t.Errorf("%s for %s with the original's token: %d", route, owner, code)
		}
	}
	report(t, "mixed-case-owner.md", "| our gateway, the original's token for Mixed.Case@Example.COM | answer |\n|---|---|\n", rows)
}

// boolCode is 200 for true and 404 for false, for a table of routes.
func boolCode(ok bool) int {
	if ok {
		return http.StatusOK
	}
	return http.StatusNotFound
}

// streamHas reads the caller's event stream until it shows job id, for 10 s.
func streamHas(t *testing.T, cl *client, id string) bool {
	t.Helper()
	req := cl.request("GET", "/jobs/events", nil)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "data: ") && strings.Contains(sc.Text(), `"id":"`+id+`"`) {
			return true
		}
	}
	return false
}

func jsonRequest(cl *client, method, path, body string) *http.Request {
	req := cl.request(method, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	return req
}

func listWebhooks(t *testing.T, cl *client) []map[string]any {
	t.Helper()
	resp, b := do(t, cl.request("GET", "/webhooks", nil))
	var hooks []map[string]any
	if resp.StatusCode != 200 || json.Unmarshal(b, &hooks) != nil {
		t.Errorf("GET /webhooks: %d %s", resp.StatusCode, b)
	}
	return hooks
}
