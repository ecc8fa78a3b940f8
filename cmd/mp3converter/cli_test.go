package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/sqlite"
)

func runCmd(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	// A server that starts by mistake stops when the context ends.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	code = run(ctx, args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestUserCommands(t *testing.T) {
	dir := t.TempDir()
	if code, out, errs := runCmd(t, "s3cret-password\n", "user", "add", "--data-dir", dir, "--email", "Ann@Example.com", "--password-stdin", "--admin"); code != 0 {
		t.Fatalf("user add: %d %s %s", code, out, errs)
	}
	if code, _, errs := runCmd(t, "other-password\n", "user", "add", "--data-dir", dir, "--email", "ann@example.com", "--password-stdin"); code != 1 || !strings.Contains(errs, "exists") {
		t.Errorf("adding a user twice: %d %q", code, errs)
	}
	code, out, _ := runCmd(t, "", "user", "list", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, "ann@example.com") || !strings.Contains(out, "true") {
		t.Errorf("user list: %d %q", code, out)
	}
	for _, tt := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{"short\n", []string{"--email", "bob@example.com", "--password-stdin"}, "shorter than 8"},
		{"long-enough\n", []string{"--email", "bob@example.com"}, "--password-stdin"},
		{"long-enough\n", []string{"--email", "not-an-email", "--password-stdin"}, "not an email address"},
		{"long-enough\n", []string{"--email", "bob@example.com", "--password-stdin", "extra"}, "unexpected argument"},
		{strings.Repeat("p", 73) + "\n", []string{"--email", "bob@example.com", "--password-stdin"}, "longer than 72 bytes"},
	} {
		code, _, errs := runCmd(t, tt.stdin, append([]string{"user", "add", "--data-dir", dir}, tt.args...)...)
		if code != 2 || !strings.Contains(errs, tt.want) {
			t.Errorf("user add %v: exit %d, %q; want 2 and %q", tt.args, code, errs, tt.want)
		}
	}
	for _, tt := range []struct {
		stdin string
		args  []string
		code  int
		want  string
	}{
		{"short\n", []string{"--email", "ann@example.com", "--password-stdin"}, 2, "user passwd: password shorter than 8"},
		{strings.Repeat("p", 73) + "\n", []string{"--email", "ann@example.com", "--password-stdin"}, 2, "longer than 72 bytes"},
		{"long-enough\n", []string{"--email", "ann@example.com"}, 2, "user passwd: give the password on standard input"},
		{"long-enough\n", []string{"--email", "not-an-email", "--password-stdin"}, 2, "not an email address"},
		{"long-enough\n", []string{"--email", "nobody@example.com", "--password-stdin"}, 1, "no user nobody@example.com"},
	} {
		code, _, errs := runCmd(t, tt.stdin, append([]string{"user", "passwd", "--data-dir", dir}, tt.args...)...)
		if code != tt.code || !strings.Contains(errs, tt.want) {
			t.Errorf("user passwd %v: exit %d, %q; want %d and %q", tt.args, code, errs, tt.code, tt.want)
		}
	}
	if code, out, errs := runCmd(t, "new-password\n", "user", "passwd", "--data-dir", dir, "--email", "ann@example.com", "--password-stdin"); code != 0 ||
		out != "changed the password of ann@example.com; their earlier tokens no longer work\n" {
		t.Errorf("user passwd: %d %q %q", code, out, errs)
	}
	if code, _, errs := runCmd(t, "", "user", "delete", "--data-dir", dir, "--email", "ann@example.com"); code != 0 {
		t.Errorf("user delete: %d %s", code, errs)
	}
	if code, _, errs := runCmd(t, "", "user", "delete", "--data-dir", dir, "--email", "ann@example.com"); code != 1 || !strings.Contains(errs, "no user") {
		t.Errorf("deleting a missing user: %d %q", code, errs)
	}
	if code, out, _ := runCmd(t, "", "user", "list", "--data-dir", dir); strings.Contains(out, "ann@") {
		t.Errorf("deleted user listed: %d %q", code, out)
	}
}

// TestServeSettings: a bad setting stops serve at once with a message that
// names it.
func TestServeSettings(t *testing.T) {
	for _, tt := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{map[string]string{"MP3CONVERTER_WORKERS": "many"}, nil, "MP3CONVERTER_WORKERS"},
		{map[string]string{"MP3CONVERTER_MAX_UPLOAD": "huge"}, nil, "MP3CONVERTER_MAX_UPLOAD"},
		{map[string]string{"MP3CONVERTER_MAX_DURATION": "forever"}, nil, "MP3CONVERTER_MAX_DURATION"},
		{map[string]string{"MP3CONVERTER_KEEP_VIDEOS": "perhaps"}, nil, "MP3CONVERTER_KEEP_VIDEOS"},
		{map[string]string{"JWT_SECRET": "short"}, nil, "JWT_SECRET"},
		{map[string]string{"MP3CONVERTER_ADDR": "nonsense"}, nil, "MP3CONVERTER_ADDR"},
		{map[string]string{"MP3CONVERTER_LOG_FORMAT": "xml"}, nil, "MP3CONVERTER_LOG_FORMAT"},
		{map[string]string{"MP3CONVERTER_SMTP_URL": "http://mail"}, nil, "MP3CONVERTER_SMTP_URL"},
		{nil, []string{"--workers", "0"}, "MP3CONVERTER_WORKERS"},
		{nil, []string{"--no-such-flag"}, "no-such-flag"},
	} {
		for k, v := range tt.env {
			t.Setenv(k, v)
		}
		args := []string{"serve", "--data-dir", t.TempDir()}
		if tt.env["MP3CONVERTER_ADDR"] == "" {
			args = append(args, "--addr", "127.0.0.1:0")
		}
		args = append(args, tt.args...)
		code, _, errs := runCmd(t, "", args...)
		if code != 2 || !strings.Contains(errs, tt.want) {
			t.Errorf("serve with %v %v: exit %d, %q; want 2 naming %s", tt.env, tt.args, code, errs, tt.want)
		}
		for k := range tt.env {
			t.Setenv(k, "")
		}
	}
}

// TestRoleSettings: a role with a bad or missing setting stops at start
// with a message naming it, before connecting to anything; no role signs
// tokens with an empty, short or placeholder secret.
func TestRoleSettings(t *testing.T) {
	good := map[string]string{
		"MP3CONVERTER_DATABASE_URL": "mysql://u:p@127.0.0.1:1/auth",
		"MP3CONVERTER_QUEUE_URL":    "amqp://u:p@127.0.0.1:1/",
		"MP3CONVERTER_STORAGE_URL":  "mongodb://127.0.0.1:1",
		"JWT_SECRET":                "a-long-random-secret-for-tests-0123",
	}
	for _, tt := range []struct {
		role  string
		unset []string
		set   map[string]string
		want  string
	}{
		{"gateway", []string{"JWT_SECRET"}, nil, "JWT_SECRET is not set"},
		{"auth", []string{"JWT_SECRET"}, nil, "JWT_SECRET is not set"},
		{"gateway", nil, map[string]string{"JWT_SECRET": "CHANGE-ME"}, "JWT_SECRET: too short"},
		{"auth", nil, map[string]string{"JWT_SECRET": "changeme-changeme"}, "JWT_SECRET: looks like a placeholder"},
		{"auth", []string{"MP3CONVERTER_DATABASE_URL"}, nil, "MP3CONVERTER_DATABASE_URL is not set"},
		{"auth", nil, map[string]string{"MP3CONVERTER_DATABASE_URL": "postgres://x/y"}, "MP3CONVERTER_DATABASE_URL"},
		{"gateway", []string{"MP3CONVERTER_QUEUE_URL"}, nil, "MP3CONVERTER_QUEUE_URL is not set"},
		{"converter", []string{"MP3CONVERTER_STORAGE_URL"}, nil, "MP3CONVERTER_STORAGE_URL is not set"},
		{"converter", nil, map[string]string{"MP3CONVERTER_WORKERS": "0"}, "MP3CONVERTER_WORKERS"},
		{"notification", nil, map[string]string{"MP3CONVERTER_HEALTH_ADDR": "8081"}, "MP3CONVERTER_HEALTH_ADDR"},
		{"notification", nil, map[string]string{"MP3CONVERTER_SHUTDOWN_GRACE": "soon"}, "MP3CONVERTER_SHUTDOWN_GRACE"},
		{"gateway", nil, map[string]string{"MP3CONVERTER_MAX_UPLOAD": "lots"}, "MP3CONVERTER_MAX_UPLOAD"},
		{"gateway", nil, map[string]string{"MP3CONVERTER_QUEUE_URL": "amqp://u:hunter2@host:notaport/"}, "MP3CONVERTER_QUEUE_URL"},
	} {
		env := map[string]string{}
		for k, v := range good {
			env[k] = v
		}
		for _, k := range tt.unset {
			delete(env, k)
		}
		for k, v := range tt.set {
			env[k] = v
		}
		for k := range good {
			t.Setenv(k, env[k])
		}
		for k, v := range tt.set {
			t.Setenv(k, v)
		}
		code, _, errs := runCmd(t, "", tt.role)
		if code != 2 || !strings.Contains(errs, tt.want) {
			t.Errorf("%s with %v, without %v: exit %d, %q; want 2 and %q", tt.role, tt.set, tt.unset, code, errs, tt.want)
		}
		if strings.Contains(errs, "hunter2") {
			t.Errorf("a password reached the error: %q", errs)
		}
		for k := range tt.set {
			t.Setenv(k, "")
		}
	}
}

// TestFirstAdmin: a first start with no users and no settings creates an
// admin with a generated password, printed once, and a JWT secret kept in
// the data dir, so tokens outlive a restart.
func TestFirstAdmin(t *testing.T) {
	cfg := testConfig(t)
	cfg.JWTSecret = ""
	var out bytes.Buffer
	s := newServe(cfg, slog.New(slog.DiscardHandler), &out)
	if err := s.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`email: +(\S+)\n +password: +(\S+)`).FindStringSubmatch(out.String())
	if m == nil {
		s.Close()
		t.Fatalf("no admin printed:\n%s", out.String())
	}
	c := login(t, "http://"+s.Addr, m[1], m[2])
	var claims struct {
		Admin     bool
		SiteAdmin bool `json:"mp3converter_admin"`
	}
	resp, body := do(t, c.request("POST", "/validate", nil))
	json.Unmarshal(body, &claims)
	if resp.StatusCode != 200 || !claims.Admin || !claims.SiteAdmin {
		t.Errorf("the first user is not an admin: %d %s", resp.StatusCode, body)
	}
	s.Close()
	if fi, err := os.Stat(filepath.Join(cfg.DataDir, "jwt-secret")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("jwt-secret: %v %v", fi, err)
	}

	// Restarted: no second admin, no password printed, the token still works.
	out.Reset()
	s = newServe(cfg, slog.New(slog.DiscardHandler), &out)
	if err := s.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if out.Len() != 0 {
		t.Errorf("a restart printed %q", out.String())
	}
	c.base = "http://" + s.Addr
	if resp, _ := do(t, c.request("GET", "/jobs", nil)); resp.StatusCode != 200 {
		t.Errorf("a token from before the restart: %d", resp.StatusCode)
	}
}

// TestUserListShowsPlainText: an operator migrating from the original sees
// which rows still hold its plain-text passwords.
func TestUserListShowsPlainText(t *testing.T) {
	dir := t.TempDir()
	if code, _, errs := runCmd(t, "s3cret-password\n", "user", "add", "--data-dir", dir, "--email", "ann@example.com", "--password-stdin"); code != 0 {
		t.Fatal(errs)
	}
	db, err := sqlite.Open(context.Background(), filepath.Join(dir, "mp3converter.db"))
	if err != nil {
		t.Fatal(err)
	}
	err = db.Users.CreateUser(context.Background(), &mp3converter.User{Email: "seed@example.com", PasswordHash: "Admin123"})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	_, out, _ := runCmd(t, "", "user", "list", "--data-dir", dir)
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(line, "ann@") && !strings.Contains(line, "bcrypt"),
			strings.HasPrefix(line, "seed@") && !strings.Contains(line, "plain text"):
			t.Errorf("user list: %q", line)
		}
	}
}
