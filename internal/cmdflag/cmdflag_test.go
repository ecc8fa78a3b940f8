package cmdflag_test

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter/internal/bytesize"
	"github.com/mp3converter/mp3converter/internal/cmdflag"
)

// A flag's default comes from the first of its environment variables that
// is set, else from the code; the command line wins over both.
func TestEnv(t *testing.T) {
	t.Setenv("TEST_A", "")
	t.Setenv("TEST_B", "7")
	var n, m int
	var d time.Duration
	f := cmdflag.New("cmd", io.Discard)
	f.Env(cmdflag.Int(&n), "n", []string{"TEST_A", "TEST_B"}, "1", "a number")
	f.Env(cmdflag.Int(&m), "m", []string{"TEST_UNSET"}, "2", "another")
	f.Env(cmdflag.Duration(&d), "d", nil, "1m", "a duration")
	if n != 7 || m != 2 || d != time.Minute {
		t.Errorf("before parsing: n %d, m %d, d %v; want 7 (TEST_B), 2, 1m", n, m, d)
	}
	if err := f.Parse([]string{"-m", "3"}); err != nil || m != 3 {
		t.Errorf("-m 3: %d, %v", m, err)
	}
	if err := f.Parse([]string{"extra"}); !cmdflag.IsUsage(err) {
		t.Errorf("an argument after the flags: %v, want a usage error", err)
	}
}

// A bad environment value stops the command with a usage error naming the
// variable, and its value unless the flag is a secret.
func TestEnvBad(t *testing.T) {
	t.Setenv("TEST_N", "many")
	t.Setenv("TEST_SECRET", "hunter2")
	t.Setenv("TEST_SIZE", "huge")
	var n int
	var secret string
	var size bytesize.Size
	f := cmdflag.New("cmd", io.Discard)
	f.Env(cmdflag.Int(&n), "n", []string{"TEST_N"}, "0", "")
	f.Env(cmdflag.Secret(&secret), "secret", []string{"TEST_SECRET"}, "", "")
	f.Env(&size, "size", []string{"TEST_SIZE"}, "1MiB", "")
	err := f.Parse(nil)
	if !cmdflag.IsUsage(err) {
		t.Fatalf("Parse: %v, want a usage error", err)
	}
	for _, want := range []string{`TEST_N="many": not a whole number`, `TEST_SIZE="huge": not a size`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%v: want %q in it", err, want)
		}
	}
	if secret != "hunter2" || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("secret %q; error %v", secret, err)
	}
}

// Each value parses what it is given and says what a good one looks like.
func TestValues(t *testing.T) {
	var s string
	var n int
	var b bool
	var d time.Duration
	for _, tt := range []struct {
		v      flag.Value
		in     string
		shown  string // "" if in is refused
		reason string
	}{
		{cmdflag.String(&s), "text", "text", ""},
		{cmdflag.Secret(&s), "hunter2", "", ""},
		{cmdflag.Int(&n), "12", "12", ""},
		{cmdflag.Int(&n), "1.5", "", "not a whole number"},
		{cmdflag.Bool(&b), "true", "true", ""},
		{cmdflag.Bool(&b), "yes", "", "not true or false"},
		{cmdflag.Duration(&d), "90s", "1m30s", ""},
		{cmdflag.Duration(&d), "90", "", "not a duration such as 90s or 2h"},
	} {
		err := tt.v.Set(tt.in)
		switch {
		case tt.reason != "" && (err == nil || err.Error() != tt.reason):
			t.Errorf("%T.Set(%q) = %v, want %q", tt.v, tt.in, err, tt.reason)
		case tt.reason == "" && (err != nil || tt.v.String() != tt.shown):
			t.Errorf("%T.Set(%q): %v, shown %q, want %q", tt.v, tt.in, err, tt.v.String(), tt.shown)
		}
	}
	if s != "hunter2" || !cmdflag.IsSecret(cmdflag.Secret(&s)) || cmdflag.IsSecret(cmdflag.String(&s)) {
		t.Errorf("secret %q", s)
	}
}

// -h names what each flag takes and its default, and never a secret.
func TestUsage(t *testing.T) {
	t.Setenv("TEST_TOKEN", "hunter2")
	var out strings.Builder
	var s, token string
	var n int
	var b bool
	var size bytesize.Size
	f := cmdflag.New("cmd", &out)
	f.Env(cmdflag.String(&s), "name", []string{"TEST_NAME"}, "x", "a name")
	f.Env(cmdflag.Secret(&token), "token", []string{"TEST_TOKEN"}, "", "a token")
	f.Env(cmdflag.Int(&n), "n", nil, "3", "a number")
	f.Env(cmdflag.Bool(&b), "b", nil, "false", "a switch")
	f.Env(&size, "max", nil, "2GiB", "a size")
	if err := f.Parse([]string{"-h"}); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	for _, want := range []string{
		"-name string\n    \ta name (env TEST_NAME) (default \"x\")\n",
		"-token string\n    \ta token (env TEST_TOKEN)\n",
		"-n int\n    \ta number (default 3)\n",
		"-b\ta switch\n",
		"-max size\n    \ta size (default 2 GiB)\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("-h lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "hunter2") {
		t.Errorf("-h shows the secret:\n%s", out.String())
	}
}
