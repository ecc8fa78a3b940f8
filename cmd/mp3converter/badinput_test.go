package main

import (
	"bytes"
	"fmt"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/mp3converter/mp3converter/auth"
	"github.com/mp3converter/mp3converter/internal/testmedia"
)

func forge(t *testing.T, method jwt.SigningMethod, key any, user string, exp time.Time) string {
	t.Helper()
	c := auth.Claims{Username: user, Admin: true, RegisteredClaims: jwt.RegisteredClaims{
		IssuedAt: jwt.NewNumericDate(time.Now().Add(-2 * time.Hour)), ExpiresAt: jwt.NewNumericDate(exp)}}
	s, err := jwt.NewWithClaims(method, c).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// signMap signs, with the server's secret, a token of ann's that is valid
// but for header's extra members and claims' changes to her claims.
func signMap(t *testing.T, secret []byte, header map[string]any, claims jwt.MapClaims) string {
	t.Helper()
	c := jwt.MapClaims{"username": "ann@example.com", "admin": true, "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()}
	for k, v := range claims {
		c[k] = v
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
	for k, v := range header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(secret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestBadRequests sends requests a client gets wrong: each gets a 4xx with
// a message saying what is wrong, never a 5xx.
func TestBadRequests(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxUpload = 1 << 20
	srv := startServe(t, cfg)
	srv.addUser(t, "ann@example.com", "ann-password", false)
	srv.addUser(t, "bob@example.com", "bob-password", false)
	srv.addUser(t, "carol@example.com", "carol-password", false)
	ann := login(t, srv.URL, "ann@example.com", "ann-password")
	bob := login(t, srv.URL, "bob@example.com", "bob-password")
	carol := login(t, srv.URL, "carol@example.com", "carol-password")
	if code, _, errs := runCmd(t, "", "user", "delete", "--data-dir", cfg.DataDir, "--email", "carol@example.com"); code != 0 {
		t.Fatalf("user delete: %s", errs)
	}
	// A locked-out account, for the throttling case.
	for range 5 {
		tryLogin(t, srv.URL, "victim@example.com", "guess", "")
	}

	// Bob has a finished MP3; its fid must stay his.
	j := bob.waitJob(bob.upload(testmedia.Make(t, testmedia.MP4, 2), "bob.mp4").JobID, time.Minute)
	if j.Status != "done" {
		t.Fatalf("bob's job %s: %s", j.Status, deref(j.Error))
	}
	bobFID := *j.MP3FID

	tests := badRequestCases(t, []byte(cfg.JWTSecret), bobFID, j.ID, carol.token)
	results := [][]string{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			send := do
			if tt.offAPI {
				send = doUnchecked
			}
			resp, b := send(t, tt.request(srv.URL, ann.token))
			results = append(results, []string{tt.name, fmt.Sprint(resp.StatusCode), strings.TrimSpace(string(b))})
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d (body %q)", resp.StatusCode, tt.status, b)
			}
			if !strings.Contains(string(b), tt.message) {
				t.Errorf("body %q does not say %q", b, tt.message)
			}
			if strings.Contains(string(b), "goroutine") || strings.Contains(string(b), ".go:") || strings.Contains(string(b), bobFID) && tt.token == "ann" {
				t.Errorf("body leaks internals or another user's data: %q", b)
			}
		})
	}
	// None of the refused uploads left a job behind, and an admin-only
	// view shows a plain user nothing of anyone else.
	if js := ann.jobs("?all=true"); len(js) != 0 {
		t.Errorf("refused uploads created %d jobs, or ann sees others' jobs", len(js))
	}
	// Tokens and passwords never reach the log.
	logs := srv.logs.String()
	for _, secret := range []string{ann.token, bob.token, carol.token, "ann-password", "bob-password", cfg.JWTSecret} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log holds a secret: %.20s...", secret)
		}
	}
	report(t, "bad-requests.md", "| request | status | message |\n|---|---|---|\n", results)
}

// badRequest is one case of TestBadRequests: a request and the status and
// message it must get.
type badRequest struct {
	name    string
	method  string
	path    string
	token   string // "" for none; "ann" for a good one
	rawAuth string
	basic   []string
	ctype   string
	body    []byte
	status  int
	message string
	offAPI  bool // outside docs/openapi.yaml on purpose
}

// request builds tt's request against base; annToken stands in for "ann".
func (tt badRequest) request(base, annToken string) *http.Request {
	var body *bytes.Reader
	if tt.body != nil {
		body = bytes.NewReader(tt.body)
	} else {
		body = bytes.NewReader(nil)
	}
	r, _ := http.NewRequest(tt.method, base+tt.path, body)
	switch {
	case tt.token == "ann":
		r.Header.Set("Authorization", "Bearer "+annToken)
	case tt.token != "":
		r.Header.Set("Authorization", "Bearer "+tt.token)
	case tt.rawAuth != "":
		r.Header.Set("Authorization", tt.rawAuth)
	case tt.basic != nil:
		r.SetBasicAuth(tt.basic[0], tt.basic[1])
	}
	if tt.ctype != "" {
		r.Header.Set("Content-Type", tt.ctype)
	}
	if tt.name == "oversized header" {
		r.Header.Set("X-Padding", strings.Repeat("x", 128<<10))
	}
	return r
}

// badForm returns a multipart form with a note and files parts named field.
func badForm(files int, field string) (string, []byte) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	mw.WriteField("note", "hello")
	for i := 0; i < files; i++ {
		w, _ := mw.CreateFormFile(field, "v.mp4")
		w.Write([]byte("not really a video"))
	}
	mw.Close()
	return mw.FormDataContentType(), b.Bytes()
}

// badRequestCases is TestBadRequests' table. secret signs the server's
// tokens; bob owns bobFID and job bobJob; carolToken is a deleted user's.
func badRequestCases(t *testing.T, secret []byte, bobFID, bobJob, carolToken string) []badRequest {
	future := time.Now().Add(time.Hour)
	oneType, oneBody := badForm(1, "file")
	bigType, bigBody := func() (string, []byte) {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		w, _ := mw.CreateFormFile("file", "big.mp4")
		w.Write(make([]byte, 3<<20))
		mw.Close()
		return mw.FormDataContentType(), b.Bytes()
	}()
	zeroType, zeroBody := badForm(0, "file")
	twoType, twoBody := badForm(2, "file")
	return []badRequest{
		{name: "login without credentials", method: "POST", path: "/login", status: 401, message: "missing credentials"},
		{name: "login with a wrong password", method: "POST", path: "/login", basic: []string{"ann@example.com", "nope"}, status: 401, message: "invalid credentials"},
		{name: "login as nobody", method: "POST", path: "/login", basic: []string{"zed@example.com", "whatever"}, status: 401, message: "invalid credentials"},
		{name: "upload without a token", method: "POST", path: "/upload", ctype: oneType, body: oneBody, status: 401, message: "missing credentials"},
		{name: "upload with a garbage token", method: "POST", path: "/upload", token: "garbage", ctype: oneType, body: oneBody, status: 401, message: "invalid token"},
		{name: "upload with Basic instead of Bearer", method: "POST", path: "/upload", rawAuth: "Basic YW5uOng=", ctype: oneType, body: oneBody, status: 401, message: "malformed Authorization header"},
		{name: "Bearer without a token", method: "GET", path: "/jobs", rawAuth: "Bearer ", status: 401, message: "malformed Authorization header"},
		{name: "token signed with another key", method: "GET", path: "/jobs", token: forge(t, jwt.SigningMethodHS256, []byte("some other secret, long enough"), "ann@example.com", future), status: 401, message: "invalid token"},
		{name: "expired token", method: "GET", path: "/jobs", token: forge(t, jwt.SigningMethodHS256, secret, "ann@example.com", time.Now().Add(-time.Hour)), status: 401, message: "token expired"},
		{name: "alg none", method: "GET", path: "/jobs", token: forge(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "ann@example.com", future), status: 401, message: "invalid token"},
		{name: "HS512 token", method: "GET", path: "/jobs", token: forge(t, jwt.SigningMethodHS512, secret, "ann@example.com", future), status: 401, message: "invalid token"},
		{name: "validate without a token", method: "POST", path: "/validate", status: 401, message: "missing credentials"},
		{name: "validate a garbage token", method: "POST", path: "/validate", token: "a.b.c", status: 401, message: "invalid token"},
		{name: "upload with zero files", method: "POST", path: "/upload", token: "ann", ctype: zeroType, body: zeroBody, status: 400, message: "exactly 1 file required"},
		{name: "upload with two files", method: "POST", path: "/upload", token: "ann", ctype: twoType, body: twoBody, status: 400, message: "exactly 1 file required"},
		{name: "upload that is not multipart", method: "POST", path: "/upload", token: "ann", ctype: "application/json", body: []byte(`{"file":"x"}`), status: 400, message: "exactly 1 file required"},
		{name: "raw upload with an empty body", method: "POST", path: "/upload", token: "ann", ctype: "video/mp4", body: []byte{}, status: 400, message: "the body is empty"},
		{name: "raw upload with a bad option", method: "POST", path: "/upload?bitrate=100", token: "ann", ctype: "video/mp4", body: []byte("not really a video"), status: 400, message: `invalid option bitrate "100"`},
		{name: "raw upload with an option twice", method: "POST", path: "/upload?quality=V2&quality=V5", token: "ann", ctype: "application/octet-stream", body: []byte("x"), status: 400, message: "invalid option quality: given 2 times"},
		{name: "raw upload with quality and bitrate", method: "POST", path: "/upload?quality=V2&bitrate=128", token: "ann", ctype: "audio/mpeg", body: []byte("x"), status: 400, message: "give one, not both"},
		{name: "raw upload over the size limit", method: "POST", path: "/upload", token: "ann", ctype: "video/mp4", body: make([]byte, 3<<20), status: 413, message: "larger than the 1 MiB limit"},
		{name: "upload with a broken multipart body", method: "POST", path: "/upload", token: "ann", ctype: oneType, body: oneBody[:len(oneBody)/2], status: 400, message: ""},
		{name: "download without fid", method: "GET", path: "/download", token: "ann", status: 400, message: "fid is required"},
		{name: "download with a malformed fid", method: "GET", path: "/download?fid=xyz", token: "ann", status: 400, message: "fid must be a 24-digit hexadecimal ObjectId"},
		{name: "download with an unknown fid", method: "GET", path: "/download?fid=0123456789abcdef01234567", token: "ann", status: 404, message: "file not found"},
		{name: "download another user's fid", method: "GET", path: "/download?fid=" + bobFID, token: "ann", status: 404, message: "file not found"},
		{name: "another user's job", method: "GET", path: "/jobs/" + bobJob, token: "ann", status: 404, message: "job not found"},
		{name: "a malformed job id", method: "GET", path: "/jobs/..%2f..%2fetc", token: "ann", status: 404, message: ""},
		{name: "jobs with a bad limit", method: "GET", path: "/jobs?limit=-1", token: "ann", status: 400, message: "limit must be"},
		{name: "GET on /upload", method: "GET", path: "/upload", token: "ann", status: 405, message: "", offAPI: true},
		{name: "token of a deleted user", method: "GET", path: "/jobs", token: carolToken, status: 401, message: "invalid token"},
		{name: "validate a deleted user's token", method: "POST", path: "/validate", token: carolToken, status: 401, message: "invalid token"},
		{name: "token naming bob, signed with another key", method: "GET", path: "/jobs", token: forge(t, jwt.SigningMethodHS256, []byte("guessed secret, long enough....."), "bob@example.com", future), status: 401, message: "invalid token"},
		{name: "token without exp", method: "GET", path: "/jobs", token: func() string {
			s, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"username": "ann@example.com", "admin": true}).SignedString(secret)
			return s
		}(), status: 401, message: "invalid token"},
		{name: "token with spaces", method: "GET", path: "/jobs", rawAuth: "Bearer a b c", status: 401, message: "invalid token"},
		{name: "token with a crit header", method: "POST", path: "/validate", token: signMap(t, secret, map[string]any{"crit": []string{"exp"}}, jwt.MapClaims{}), status: 401, message: "invalid token"},
		{name: "token with a string exp", method: "POST", path: "/validate", token: signMap(t, secret, nil, jwt.MapClaims{"exp": strconv.FormatInt(future.Unix(), 10)}), status: 401, message: "invalid token"},
		{name: "delete another user's job", method: "DELETE", path: "/jobs/" + bobJob, token: "ann", status: 404, message: "job not found"},
		{name: "another user's fid in upper case", method: "GET", path: "/download?fid=" + strings.ToUpper(bobFID), token: "ann", status: 404, message: "file not found"},
		{name: "a path as fid", method: "GET", path: "/download?fid=../../etc/passwd", token: "ann", status: 400, message: "fid must be"},
		{name: "jobs with a bad status", method: "GET", path: "/jobs?status=bogus", token: "ann", status: 400, message: "status must be"},
		{name: "upload over the size limit", method: "POST", path: "/upload", token: "ann", ctype: bigType, body: bigBody, status: 413, message: "larger than the 1 MiB limit"},
		{name: "login to a locked-out account", method: "POST", path: "/login", basic: []string{"victim@example.com", "guess"}, status: 429, message: "too many failed logins"},
		{name: "unknown route", method: "GET", path: "/admin", token: "ann", status: 404, message: "", offAPI: true},
		{name: "oversized header", method: "GET", path: "/jobs", token: "ann", rawAuth: "", status: 431, message: "", offAPI: true},
	}
}

// TestUploadLimit refuses a file over --max-upload with 413.
func TestUploadLimit(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxUpload = 64 << 10
	srv := startServe(t, cfg)
	srv.addUser(t, "ann@example.com", "ann-password", false)
	c := login(t, srv.URL, "ann@example.com", "ann-password")
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	w, _ := mw.CreateFormFile("file", "big.mp4")
	w.Write(make([]byte, 100<<10))
	mw.Close()
	resp, msg := c.postUpload(&b, mw.FormDataContentType())
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(msg), "larger than the 64 KiB limit") {
		t.Errorf("oversized upload: %s %q", resp.Status, msg)
	}
	if js := c.jobs(""); len(js) != 0 {
		t.Errorf("oversized upload created a job")
	}
}
