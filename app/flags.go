package app

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/mp3converter/mp3converter/internal/bytesize"
)

// Flags is a command's flag set whose defaults come from environment
// variables, Kubernetes style. An environment value that does not parse is
// remembered, so that the command stops with a message naming it.
type Flags struct {
	*flag.FlagSet
	errs []string
}

// NewFlags returns the flags of a command; usage and flag errors go to out.
func NewFlags(name string, out io.Writer) *Flags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	return &Flags{FlagSet: fs}
}

// Settings registers, into c, the settings of the table that pick selects,
// with the defaults of the process named proc.
func (f *Flags) Settings(c *Config, proc string, pick func(setting) bool) {
	for _, s := range settings {
		if pick(s) {
			f.setting(c, proc, s)
		}
	}
}

// Named picks the settings with these flag names.
func Named(names ...string) func(setting) bool {
	return func(s setting) bool {
		for _, n := range names {
			if s.flag == n {
				return true
			}
		}
		return false
	}
}

func (s setting) defaultFor(proc string) string {
	if d, ok := s.per[proc]; ok {
		return d
	}
	return s.def
}

func (s setting) help() string {
	u := s.usage
	if s.shown != "" {
		u += " (default " + s.shown + ")"
	}
	return fmt.Sprintf("%s (env %s)", u, strings.Join(s.env, ", "))
}

// setting registers one setting: its default from the table, overridden
// by the first of its environment variables that is set.
func (f *Flags) setting(c *Config, proc string, s setting) {
	def := s.defaultFor(proc)
	ptr := s.field(c)
	if err := set(ptr, def); err != nil {
		panic(fmt.Sprintf("settings table: %s: default %q: %v", s.flag, def, err))
	}
	for _, k := range s.env {
		if v, ok := os.LookupEnv(k); ok && v != "" {
			if err := set(ptr, v); err != nil {
				shown := fmt.Sprintf("=%q", v)
				if s.secret {
					shown = ""
				}
				f.errs = append(f.errs, fmt.Sprintf("%s%s: %v", k, shown, err))
			}
			break
		}
	}
	switch p := ptr.(type) {
	case *bool:
		f.BoolVar(p, s.flag, *p, s.help())
	case *string:
		if s.secret {
			// Func flags show no default, so a secret from the environment
			// never reaches -h.
			f.Func(s.flag, s.help(), func(v string) error { *p = v; return nil })
		} else {
			f.StringVar(p, s.flag, *p, s.help())
		}
	default:
		f.Var(value{ptr}, s.flag, s.help())
	}
}

// value is a flag.Value over a Config field.
type value struct{ p any }

func (v value) String() string {
	if v.p == nil {
		return ""
	}
	return fmt.Sprint(deref(v.p))
}

func (v value) Set(s string) error { return set(v.p, s) }

// set parses s into the field p points to.
func set(p any, s string) error {
	switch p := p.(type) {
	case *string:
		*p = s
	case *int:
		n, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("not a whole number")
		}
		*p = n
	case *bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("not true or false")
		}
		*p = b
	case *time.Duration:
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("not a duration such as 90s or 2h")
		}
		*p = d
	case *int64:
		if strings.TrimSpace(s) == "0" { // a limit turned off
			*p = 0
			return nil
		}
		n, err := bytesize.Parse(s)
		if err != nil {
			return err
		}
		*p = n
	default:
		return fmt.Errorf("unsupported setting type %T", p)
	}
	return nil
}

func deref(p any) any {
	switch p := p.(type) {
	case *string:
		return *p
	case *int:
		return *p
	case *bool:
		return *p
	case *time.Duration:
		return *p
	case *int64:
		return bytesize.Format(*p)
	}
	return p
}

// Parse parses args and reports bad environment values and flags, all as
// UsageErrors.
func (f *Flags) Parse(args []string) error {
	if err := f.parseWithArgs(args); err != nil {
		return err
	}
	if f.NArg() > 0 {
		return UsageError{fmt.Errorf("unexpected argument %q", f.Arg(0))}
	}
	return nil
}

// parseWithArgs is Parse for a command that takes arguments after its
// flags.
func (f *Flags) parseWithArgs(args []string) error {
	if err := f.FlagSet.Parse(args); err != nil {
		return UsageError{err}
	}
	if len(f.errs) > 0 {
		return UsageError{fmt.Errorf("bad setting: %s", strings.Join(f.errs, "; "))}
	}
	return nil
}

// ParseConfig reads process p's settings from args and the environment,
// and checks them.
func ParseConfig(p Process, args []string, out io.Writer) (Config, error) {
	var c Config
	f := NewFlags(p.Name, out)
	f.Settings(&c, p.Name, p.uses)
	if err := f.Parse(args); err != nil {
		return c, err
	}
	if c.DatabaseURL == "" && p.Shape == Split {
		c.DatabaseURL = seedDatabaseURL()
	}
	return c, c.Validate(p)
}
