package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
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
	} {
		code, _, errs := runCmd(t, tt.stdin, append([]string{"user", "add", "--data-dir", dir}, tt.args...)...)
		if code != 2 || !strings.Contains(errs, tt.want) {
			t.Errorf("user add %v: exit %d, %q; want 2 and %q", tt.args, code, errs, tt.want)
		}
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
