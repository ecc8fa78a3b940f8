package cmdflag

import (
	"flag"
	"fmt"
	"reflect"
	"strings"
)

// printDefaults is flag.PrintDefaults that names the value each flag takes
// from the Value's Type, as pflag does ("-max-upload size", "-workers
// int"), where the flag package knows only its own types and says "value".
func (f *Flags) printDefaults() {
	fmt.Fprintf(f.Output(), "Usage of %s:\n", f.Name())
	f.VisitAll(func(fl *flag.Flag) {
		var b strings.Builder
		fmt.Fprintf(&b, "  -%s", fl.Name)
		name, usage := flag.UnquoteUsage(fl)
		if t, ok := fl.Value.(interface{ Type() string }); ok && name == "value" {
			name = t.Type()
		}
		if name != "" {
			b.WriteString(" " + name)
		}
		if b.Len() <= 4 { // a one-letter bool flag: the usage on its line
			b.WriteString("\t")
		} else {
			b.WriteString("\n    \t")
		}
		b.WriteString(strings.ReplaceAll(usage, "\n", "\n    \t"))
		switch {
		case fl.DefValue == zero(fl.Value):
		case name == "string":
			fmt.Fprintf(&b, " (default %q)", fl.DefValue)
		default:
			fmt.Fprintf(&b, " (default %v)", fl.DefValue)
		}
		fmt.Fprintln(f.Output(), b.String())
	})
}

// zero is how v's type shows its zero value: a default equal to it is not
// shown.
func zero(v flag.Value) string {
	t := reflect.TypeOf(v)
	if t.Kind() != reflect.Pointer {
		return reflect.Zero(t).Interface().(flag.Value).String()
	}
	return reflect.New(t.Elem()).Interface().(flag.Value).String()
}
