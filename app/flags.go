package app

import (
	"io"

	"github.com/mp3converter/mp3converter/internal/cmdflag"
)

// addSettings registers, into c, the settings of the table that pick
// selects, with the defaults of the process named proc: each setting's
// default from the table, overridden by the first of its environment
// variables that is set.
func addSettings(f *cmdflag.Flags, c *Config, proc string, pick func(setting) bool) {
	for _, s := range settings {
		if pick(s) {
			f.Env(s.field(c), s.flag, s.env, s.defaultFor(proc), s.help())
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

// help is the usage of -h; the flags add the environment variables.
func (s setting) help() string {
	if s.shown != "" {
		return s.usage + " (default " + s.shown + ")"
	}
	return s.usage
}

// ParseConfig reads process p's settings from args and the environment,
// and checks them.
func ParseConfig(p Process, args []string, out io.Writer) (Config, error) {
	var c Config
	f := cmdflag.New(p.Name, out)
	addSettings(f, &c, p.Name, p.uses)
	if err := f.Parse(args); err != nil {
		return c, err
	}
	if c.DatabaseURL == "" && p.Shape == Split {
		c.DatabaseURL = seedDatabaseURL()
	}
	return c, c.Validate(p)
}
