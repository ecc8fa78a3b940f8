// Package cmdflag is the command line of the mp3converter binary's commands:
// a command's flags, whose defaults come from environment variables
// (Kubernetes style), the flag.Values they parse into, and the usage error
// that makes a command exit with status 2.
//
// Each Value parses itself and says how it is shown (upspin's flags): a
// Secret is never shown, in -h or in an error. The server's settings
// (app's table) and the client's commands (cli) both use it.
package cmdflag

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// Flags is a command's flag set whose defaults come from environment
// variables. An environment value that does not parse is remembered, so
// that Parse stops the command with a message naming it.
type Flags struct {
	*flag.FlagSet
	errs []string
}

// New returns the flags of a command; usage and flag errors go to out.
func New(name string, out io.Writer) *Flags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	f := &Flags{FlagSet: fs}
	fs.Usage = f.printDefaults
	return f
}

// Env registers v as the flag name. Its default is def, overridden by the
// first of env that is set and not empty; usage names env. A def that v
// does not parse is a programming error: Env panics.
func (f *Flags) Env(v flag.Value, name string, env []string, def, usage string) {
	if err := v.Set(def); err != nil {
		panic(fmt.Sprintf("flag %s: default %q: %v", name, def, err))
	}
	for _, k := range env {
		if s, ok := os.LookupEnv(k); ok && s != "" {
			if err := v.Set(s); err != nil {
				shown := fmt.Sprintf("=%q", s)
				if IsSecret(v) {
					shown = ""
				}
				f.errs = append(f.errs, fmt.Sprintf("%s%s: %v", k, shown, err))
			}
			break
		}
	}
	if len(env) > 0 {
		usage += " (env " + strings.Join(env, ", ") + ")"
	}
	f.Var(v, name, usage)
}

// Parse parses args and reports bad environment values and flags, all as
// UsageErrors. The command takes no arguments after its flags.
func (f *Flags) Parse(args []string) error {
	if err := f.ParseWithArgs(args); err != nil {
		return err
	}
	if f.NArg() > 0 {
		return UsageError{fmt.Errorf("unexpected argument %q", f.Arg(0))}
	}
	return nil
}

// ParseWithArgs is Parse for a command that takes arguments after its
// flags (f.Args).
func (f *Flags) ParseWithArgs(args []string) error {
	if err := f.FlagSet.Parse(args); err != nil {
		return UsageError{err}
	}
	if len(f.errs) > 0 {
		return UsageError{fmt.Errorf("bad setting: %s", strings.Join(f.errs, "; "))}
	}
	return nil
}

// UsageError is a bad command line or setting: exit status 2.
type UsageError struct{ Err error }

func (u UsageError) Error() string { return u.Err.Error() }
func (u UsageError) Unwrap() error { return u.Err }

// IsUsage reports whether err is a usage error.
func IsUsage(err error) bool { return errors.As(err, new(UsageError)) }

// Usagef returns a UsageError of fmt.Errorf(format, args...).
func Usagef(format string, args ...any) error { return UsageError{fmt.Errorf(format, args...)} }
