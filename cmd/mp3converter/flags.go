package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// settings registers flags whose defaults come from environment variables,
// Kubernetes style, and remembers environment values that do not parse, so
// that a bad setting stops the process with a message naming it.
type settings struct {
	fs   *flag.FlagSet
	errs []string
}

// newSettings returns the settings of a command; usage and flag errors go
// to out.
func newSettings(name string, out io.Writer) *settings {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	return &settings{fs: fs}
}

// env returns the first set variable of keys.
func env(keys ...string) (key, val string, ok bool) {
	for _, k := range keys {
		if v, ok := os.LookupEnv(k); ok && v != "" {
			return k, v, true
		}
	}
	return "", "", false
}

func usage(u string, keys []string) string {
	if len(keys) == 0 {
		return u
	}
	return fmt.Sprintf("%s (env %s)", u, strings.Join(keys, ", "))
}

func (s *settings) String(p *string, name, def, u string, keys ...string) {
	if _, v, ok := env(keys...); ok {
		def = v
	}
	s.fs.StringVar(p, name, def, usage(u, keys))
}

// Secret is a string flag whose value is never shown in usage text.
func (s *settings) Secret(p *string, name, u string, keys ...string) {
	if _, v, ok := env(keys...); ok {
		*p = v
	}
	s.fs.Func(name, usage(u, keys), func(v string) error { *p = v; return nil })
}

func (s *settings) Int(p *int, name string, def int, u string, keys ...string) {
	if k, v, ok := env(keys...); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			s.errs = append(s.errs, fmt.Sprintf("%s=%q: not a whole number", k, v))
		} else {
			def = n
		}
	}
	s.fs.IntVar(p, name, def, usage(u, keys))
}

func (s *settings) Duration(p *time.Duration, name string, def time.Duration, u string, keys ...string) {
	if k, v, ok := env(keys...); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			s.errs = append(s.errs, fmt.Sprintf("%s=%q: not a duration such as 90s or 2h", k, v))
		} else {
			def = d
		}
	}
	s.fs.DurationVar(p, name, def, usage(u, keys))
}

func (s *settings) Bool(p *bool, name string, def bool, u string, keys ...string) {
	if k, v, ok := env(keys...); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			s.errs = append(s.errs, fmt.Sprintf("%s=%q: not true or false", k, v))
		} else {
			def = b
		}
	}
	s.fs.BoolVar(p, name, def, usage(u, keys))
}

func (s *settings) Bytes(p *int64, name string, def int64, u string, keys ...string) {
	if k, v, ok := env(keys...); ok {
		n, err := parseBytes(v)
		if err != nil {
			s.errs = append(s.errs, fmt.Sprintf("%s=%q: %v", k, v, err))
		} else {
			def = n
		}
	}
	*p = def
	s.fs.Func(name, usage(u, keys)+fmt.Sprintf(" (default %s)", formatBytes(def)), func(v string) error {
		n, err := parseBytes(v)
		if err != nil {
			return err
		}
		*p = n
		return nil
	})
}

// Parse parses args and reports bad environment values and flags.
func (s *settings) Parse(args []string) error {
	if err := s.fs.Parse(args); err != nil {
		return err
	}
	if len(s.errs) > 0 {
		return fmt.Errorf("bad setting: %s", strings.Join(s.errs, "; "))
	}
	if s.fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", s.fs.Arg(0))
	}
	return nil
}

var byteUnits = []struct {
	suffix string
	mult   int64
}{{"TIB", 1 << 40}, {"GIB", 1 << 30}, {"MIB", 1 << 20}, {"KIB", 1 << 10}, {"TB", 1e12}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"T", 1 << 40}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1}}

// parseBytes reads sizes such as 2GiB, 500MB, 1048576.
func parseBytes(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range byteUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f <= 0 || f*float64(mult) > 1<<62 {
		return 0, fmt.Errorf("not a size such as 2GiB or 500MB")
	}
	return int64(f * float64(mult)), nil
}

func formatBytes(n int64) string {
	for _, u := range []struct {
		s string
		m int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.m && n%u.m == 0 {
			return fmt.Sprintf("%d%s", n/u.m, u.s)
		}
	}
	return strconv.FormatInt(n, 10)
}
