// Command flow runs the seed's curl flow (login, upload, the job until
// done, download), GET /jobs and a webhook's registration through a client
// that oapi-codegen generates from docs/openapi.yaml (client.gen.go, made
// by TestOpenAPIGeneratedClient, not kept), against a running server. Every
// JSON answer is decoded strictly: a field the document does not name, or a
// value of another type, is a failure. It prints each failure and exits 1
// if there was any.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

var failures int

func fail(format string, args ...any) {
	failures++
	fmt.Printf("FAIL "+format+"\n", args...)
}

// strict decodes body into a T, refusing unknown fields and trailing data.
func strict[T any](what string, body []byte) T {
	var v T
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		fail("%s: strict decoding: %v: %.200s", what, err, body)
	} else if dec.More() {
		fail("%s: data after the JSON value: %.200s", what, body)
	} else {
		fmt.Printf("ok   %s\n", what)
	}
	return v
}

// expect checks an answer's status and, when a JSON type is given, that
// the generated client parsed it (parsed non-nil).
func expect(what string, resp *http.Response, want int, parsed bool) bool {
	if resp.StatusCode != want {
		fail("%s: status %d, want %d", what, resp.StatusCode, want)
		return false
	}
	if !parsed {
		fail("%s: the generated client did not parse the %s answer", what, resp.Header.Get("Content-Type"))
		return false
	}
	return true
}

func main() {
	server := flag.String("server", "", "the server's URL")
	email := flag.String("email", "", "the user")
	password := flag.String("password", "", "the user's password")
	video := flag.String("video", "", "a video to upload")
	hook := flag.String("hook", "", "a webhook receiver's URL")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := run(ctx, *server, *email, *password, *video, *hook); err != nil {
		fail("%v", err)
	}
	fmt.Printf("%d failures\n", failures)
	if failures > 0 {
		os.Exit(1)
	}
}

func run(ctx context.Context, server, email, password, video, hook string) error {
	anon, err := NewClientWithResponses(server)
	if err != nil {
		return err
	}
	login, err := anon.LoginWithResponse(ctx, &LoginParams{}, func(_ context.Context, r *http.Request) error {
		r.SetBasicAuth(email, password)
		return nil
	})
	if err != nil {
		return err
	}
	if login.StatusCode() != 200 || !strings.HasPrefix(login.HTTPResponse.Header.Get("Content-Type"), "text/plain") {
		return fmt.Errorf("login: %d %s", login.StatusCode(), login.Body)
	}
	token := strings.TrimSpace(string(login.Body))
	fmt.Println("ok   login: a token")
	c, err := NewClientWithResponses(server, WithRequestEditorFn(func(_ context.Context, r *http.Request) error {
		r.Header.Set("Authorization", "Bearer "+token)
		r.Header.Set("Accept", "application/json")
		return nil
	}))
	if err != nil {
		return err
	}
	if v, err := c.ValidateTokenWithResponse(ctx); err != nil {
		return err
	} else if expect("POST /validate", v.HTTPResponse, 200, v.JSON200 != nil) {
		strict[Claims]("POST /validate", v.Body)
	}
	hookID, err := registerWebhook(ctx, c, hook)
	if err != nil {
		return err
	}
	job, err := convert(ctx, c, video)
	if err != nil {
		return err
	}
	listJobs(ctx, c, job)
	if err := webhookDelivered(ctx, c, hookID); err != nil {
		return err
	}
	if err := cleanUp(ctx, c, job.Id, hookID); err != nil {
		return err
	}
	raw, err := convertRaw(ctx, c, video)
	if err != nil {
		return err
	}
	if raw.Filename != filepath.Base(video) {
		fail("POST /upload (raw): the job's filename is %q, want %q", raw.Filename, filepath.Base(video))
	}
	if d, err := c.DeleteJobWithResponse(ctx, raw.Id); err != nil || d.StatusCode() != 204 {
		fail("DELETE /jobs/{id} of the raw upload's job: %v %v", err, d)
	}
	return nil
}

// registerWebhook registers url; before any event its last delivery is null.
func registerWebhook(ctx context.Context, c *ClientWithResponses, url string) (string, error) {
	w, err := c.CreateWebhookWithResponse(ctx, CreateWebhookJSONRequestBody{Url: url})
	if err != nil {
		return "", err
	}
	if !expect("POST /webhooks", w.HTTPResponse, 201, w.JSON201 != nil) {
		return "", fmt.Errorf("POST /webhooks: %s", w.Body)
	}
	created := strict[NewWebhook]("POST /webhooks", w.Body)
	l, err := c.ListWebhooksWithResponse(ctx)
	if err != nil {
		return "", err
	}
	if expect("GET /webhooks", l.HTTPResponse, 200, l.JSON200 != nil) {
		hooks := strict[[]Webhook]("GET /webhooks, no delivery yet", l.Body)
		if len(hooks) != 1 || hooks[0].LastDelivery != nil {
			fail("GET /webhooks before any event: %+v, want the one webhook with last_delivery null", hooks)
		}
	}
	return created.Id, nil
}

// convert uploads video, follows its job until done and downloads the MP3.
func convert(ctx context.Context, c *ClientWithResponses, video string) (Job, error) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("bitrate", "128")
	part, _ := mw.CreateFormFile("file", filepath.Base(video))
	f, err := os.Open(video)
	if err != nil {
		return Job{}, err
	}
	io.Copy(part, f)
	f.Close()
	mw.Close()
	up, err := c.UploadWithBodyWithResponse(ctx, nil, mw.FormDataContentType(), &body)
	if err != nil {
		return Job{}, err
	}
	return follow(ctx, c, "POST /upload", up)
}

// convertRaw uploads video as the body itself, named and given its bitrate
// by the query, and follows its job as convert does.
func convertRaw(ctx context.Context, c *ClientWithResponses, video string) (Job, error) {
	f, err := os.Open(video)
	if err != nil {
		return Job{}, err
	}
	defer f.Close()
	name, bitrate := filepath.Base(video), "128"
	up, err := c.UploadWithBodyWithResponse(ctx, &UploadParams{Filename: &name, Bitrate: &bitrate}, "video/mp4", f)
	if err != nil {
		return Job{}, err
	}
	return follow(ctx, c, "POST /upload (raw)", up)
}

// follow takes the answer to an upload, follows its job until done and
// downloads the MP3.
func follow(ctx context.Context, c *ClientWithResponses, what string, up *UploadResponse) (Job, error) {
	if !expect(what, up.HTTPResponse, 202, up.JSON202 != nil) {
		return Job{}, fmt.Errorf("%s: %s", what, up.Body)
	}
	accepted := strict[Accepted](what, up.Body)
	var job Job
	for {
		g, err := c.GetJobWithResponse(ctx, accepted.JobId)
		if err != nil {
			return job, err
		}
		if !expect("GET /jobs/{id}", g.HTTPResponse, 200, g.JSON200 != nil) {
			return job, fmt.Errorf("GET /jobs/%s: %s", accepted.JobId, g.Body)
		}
		job = strict[Job]("GET /jobs/{id} ("+string(g.JSON200.Status)+")", g.Body)
		if job.Status == "done" || job.Status == "failed" {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if job.Status != "done" || job.Mp3Fid == nil || job.Options.Bitrate == nil || *job.Options.Bitrate != 128 {
		return job, fmt.Errorf("the job ended %s (%v), options %+v", job.Status, job.Error, job.Options)
	}
	d, err := c.DownloadWithResponse(ctx, &DownloadParams{Fid: *job.Mp3Fid})
	if err != nil {
		return job, err
	}
	if d.StatusCode() != 200 || d.HTTPResponse.Header.Get("Content-Type") != "audio/mpeg" || len(d.Body) < 1000 {
		fail("GET /download: %d %s, %d bytes", d.StatusCode(), d.HTTPResponse.Header.Get("Content-Type"), len(d.Body))
	} else {
		fmt.Printf("ok   GET /download: %d bytes of audio/mpeg\n", len(d.Body))
	}
	return job, nil
}

// listJobs lists the jobs, all and by name.
func listJobs(ctx context.Context, c *ClientWithResponses, job Job) {
	limit, name := 10, strings.ToUpper(job.Filename)
	for _, p := range []ListJobsParams{{Limit: &limit}, {Q: &name}} {
		l, err := c.ListJobsWithResponse(ctx, &p)
		if err != nil {
			fail("GET /jobs: %v", err)
			continue
		}
		if expect("GET /jobs", l.HTTPResponse, 200, l.JSON200 != nil) {
			jobs := strict[[]Job]("GET /jobs", l.Body)
			if len(jobs) != 1 || jobs[0].Id != job.Id {
				fail("GET /jobs: %d jobs, want the one", len(jobs))
			}
		}
	}
}

// webhookDelivered waits until the webhook's last delivery is delivered.
func webhookDelivered(ctx context.Context, c *ClientWithResponses, id string) error {
	for {
		l, err := c.ListWebhooksWithResponse(ctx)
		if err != nil {
			return err
		}
		if l.StatusCode() != 200 || l.JSON200 == nil || len(*l.JSON200) != 1 {
			return fmt.Errorf("GET /webhooks: %d %s", l.StatusCode(), l.Body)
		}
		if d := (*l.JSON200)[0].LastDelivery; d != nil && d.Status == "delivered" {
			strict[[]Webhook]("GET /webhooks, delivered", l.Body)
			break
		}
		if ctx.Err() != nil {
			return fmt.Errorf("no webhook delivery: %s", l.Body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	d, err := c.ListWebhookDeliveriesWithResponse(ctx, id)
	if err != nil {
		return err
	}
	if expect("GET /webhooks/{id}/deliveries", d.HTTPResponse, 200, d.JSON200 != nil) {
		strict[[]WebhookDelivery]("GET /webhooks/{id}/deliveries", d.Body)
	}
	return nil
}

// cleanUp deletes the job and the webhook: the job is then not found, with
// a JSON error; and asks /healthz and /readyz.
func cleanUp(ctx context.Context, c *ClientWithResponses, jobID, hookID string) error {
	if d, err := c.DeleteJobWithResponse(ctx, jobID); err != nil || d.StatusCode() != 204 {
		fail("DELETE /jobs/{id}: %v %v", err, d)
	}
	if d, err := c.DeleteWebhookWithResponse(ctx, hookID); err != nil || d.StatusCode() != 204 {
		fail("DELETE /webhooks/{id}: %v %v", err, d)
	}
	g, err := c.GetJobWithResponse(ctx, jobID)
	if err != nil {
		return err
	}
	if expect("GET /jobs/{id} of a deleted job", g.HTTPResponse, 404, g.JSON404 != nil) {
		strict[Error]("GET /jobs/{id} of a deleted job", g.Body)
	}
	for what, body := range map[string]func() (int, []byte, error){
		"GET /healthz": func() (int, []byte, error) { r, err := c.HealthzWithResponse(ctx); return code(r, err) },
		"GET /readyz":  func() (int, []byte, error) { r, err := c.ReadyzWithResponse(ctx); return code(r, err) },
	} {
		status, b, err := body()
		if err != nil || status != 200 || !strings.HasSuffix(string(b), "\n") {
			fail("%s: %d %q %v", what, status, b, err)
		} else {
			fmt.Printf("ok   %s: %q\n", what, b)
		}
	}
	return nil
}

func code(r interface {
	StatusCode() int
	GetBody() []byte
}, err error) (int, []byte, error) {
	if err != nil {
		return 0, nil, err
	}
	return r.StatusCode(), r.GetBody(), nil
}
