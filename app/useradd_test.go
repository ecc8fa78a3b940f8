package app

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/mp3converter/mp3converter/internal/cmdflag"
)

// TestUserAddPasswordEnv: user add takes the password from a named
// environment variable (a container without a shell cannot pipe one in),
// and with --exists-ok an existing user is no error and stays unchanged.
func TestUserAddPasswordEnv(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("MP3CONVERTER_DATABASE_URL", "")
	t.Setenv("ADMIN_PW", "first-password")
	add := func(args ...string) (string, error) {
		var out bytes.Buffer
		args = append([]string{"add", "--data-dir", dir, "--email", "admin@example.com", "--admin"}, args...)
		err := RunUser(context.Background(), args, strings.NewReader(""), &out, &bytes.Buffer{})
		return out.String(), err
	}
	if out, err := add("--password-env", "ADMIN_PW", "--exists-ok"); err != nil || !strings.Contains(out, "added admin@example.com (admin: true)") {
		t.Fatalf("first add: %q, %v", out, err)
	}
	t.Setenv("ADMIN_PW", "second-password")
	if out, err := add("--password-env", "ADMIN_PW", "--exists-ok"); err != nil || !strings.Contains(out, "exists; unchanged") {
		t.Errorf("again with --exists-ok: %q, %v", out, err)
	}
	if _, err := add("--password-env", "ADMIN_PW"); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("again without --exists-ok: %v, want exists", err)
	}
	a, err := openAccounts(context.Background(), &Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	u, err := a.users.UserByEmail(context.Background(), "admin@example.com")
	if err != nil || !u.Admin {
		t.Fatalf("user %+v, %v", u, err)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--password-env", "UNSET_PW"}, "UNSET_PW is not set"},
		{[]string{"--password-env", "ADMIN_PW", "--password-stdin"}, "--password-stdin, or name its environment variable"},
		{nil, "--password-stdin, or name its environment variable"},
	} {
		if _, err := add(tt.args...); !cmdflag.IsUsage(err) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("add %v: %v, want a usage error with %q", tt.args, err, tt.want)
		}
	}
}
