package cmdflag

import (
	"flag"
	"fmt"
	"strconv"
	"time"
)

// The adapters below turn a variable into a flag.Value that parses into
// it. Each error says what a good value looks like; the flag's or the
// environment variable's name is added by whoever reports it.

// String is a flag.Value over *p: any text.
func String(p *string) flag.Value { return (*stringValue)(p) }

// Secret is a flag.Value over *p, such as a password or a URL with one,
// that is never shown: its String is empty, so that -h shows no default,
// and Env leaves the value out of its errors (see IsSecret).
func Secret(p *string) flag.Value { return (*secretValue)(p) }

// Int is a flag.Value over *p: a whole number.
func Int(p *int) flag.Value { return (*intValue)(p) }

// Bool is a flag.Value over *p: true or false (and what strconv.ParseBool
// takes); the flag alone (--keep-videos) means true.
func Bool(p *bool) flag.Value { return (*boolValue)(p) }

// Duration is a flag.Value over *p: a duration such as 90s or 2h.
func Duration(p *time.Duration) flag.Value { return (*durationValue)(p) }

// IsSecret reports whether v is never to be shown (see Secret).
func IsSecret(v flag.Value) bool {
	_, ok := v.(*secretValue)
	return ok
}

type stringValue string

func (s *stringValue) Set(v string) error { *s = stringValue(v); return nil }
func (s *stringValue) String() string {
	if s == nil {
		return ""
	}
	return string(*s)
}
func (s *stringValue) Type() string { return "string" }

type secretValue string

func (s *secretValue) Set(v string) error { *s = secretValue(v); return nil }
func (s *secretValue) String() string     { return "" }
func (s *secretValue) Type() string       { return "string" }

type intValue int

func (n *intValue) Set(v string) error {
	i, err := strconv.Atoi(v)
	if err != nil {
		return fmt.Errorf("not a whole number")
	}
	*n = intValue(i)
	return nil
}
func (n *intValue) String() string {
	if n == nil {
		return "0"
	}
	return strconv.Itoa(int(*n))
}
func (n *intValue) Type() string { return "int" }

type boolValue bool

func (b *boolValue) Set(v string) error {
	x, err := strconv.ParseBool(v)
	if err != nil {
		return fmt.Errorf("not true or false")
	}
	*b = boolValue(x)
	return nil
}
func (b *boolValue) String() string {
	if b == nil {
		return "false"
	}
	return strconv.FormatBool(bool(*b))
}

// IsBoolFlag lets the flag stand alone: --keep-videos is --keep-videos=true.
func (b *boolValue) IsBoolFlag() bool { return true }
func (b *boolValue) Type() string     { return "" }

type durationValue time.Duration

func (d *durationValue) Set(v string) error {
	x, err := time.ParseDuration(v)
	if err != nil {
		return fmt.Errorf("not a duration such as 90s or 2h")
	}
	*d = durationValue(x)
	return nil
}
func (d *durationValue) String() string {
	if d == nil {
		return "0s"
	}
	return time.Duration(*d).String()
}
func (d *durationValue) Type() string { return "duration" }
