// Package bytesize reads and writes sizes in bytes as people type them:
// 2GiB, 500MB, 64 KiB, 1048576.
package bytesize

import (
	"fmt"
	"strconv"
	"strings"
)

var byteUnits = []struct {
	suffix string
	mult   int64
}{{"TIB", 1 << 40}, {"GIB", 1 << 30}, {"MIB", 1 << 20}, {"KIB", 1 << 10}, {"TB", 1e12}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"T", 1 << 40}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1}}

// Parse reads a positive size such as 2GiB, 500MB, 1.5 G or 1048576: a
// number and an optional unit, in any case. K, M, G and T are binary (KiB
// ...), KB, MB, GB and TB decimal. It reads what Format writes for
// positive n.
func Parse(s string) (int64, error) { return parse(s, false) }

// parse is Parse, taking 0 too if zeroOK.
func parse(s string, zeroOK bool) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range byteUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	// !(f > 0) rather than f <= 0, which lets NaN through.
	if err != nil || !(f > 0 || zeroOK && f == 0) || f*float64(mult) > 1<<62 {
		return 0, fmt.Errorf("not a size such as 2GiB or 500MB")
	}
	return int64(f * float64(mult)), nil
}

// formatUnits are the units Format writes, largest first.
var formatUnits = []struct {
	name string
	mult int64
}{{"TiB", 1 << 40}, {"TB", 1e12}, {"GiB", 1 << 30}, {"GB", 1e9}, {"MiB", 1 << 20}, {"MB", 1e6}, {"KiB", 1 << 10}, {"KB", 1e3}}

// Format writes n exactly, in the largest unit that divides it: "2 GiB",
// "500 MB", "1536 KiB", "1000001 B". Exact, because it shows limits and
// flag defaults that a user may type back; the space, because it is also
// read in messages ("larger than the 1 MiB limit").
func Format(n int64) string {
	for _, u := range formatUnits {
		if n != 0 && n%u.mult == 0 {
			return fmt.Sprintf("%d %s", n/u.mult, u.name)
		}
	}
	return fmt.Sprintf("%d B", n)
}

// Size is a size in bytes that parses itself: a flag.Value for settings
// such as --max-upload. Unlike Parse, it takes 0, a limit turned off.
type Size int64

// Set reads s as Parse does, or 0 ("0", "0 B").
func (z *Size) Set(s string) error {
	n, err := parse(s, true)
	if err != nil {
		return err
	}
	*z = Size(n)
	return nil
}

// String is Format's: "2 GiB", which Set reads back.
func (z *Size) String() string {
	if z == nil {
		return Format(0)
	}
	return Format(int64(*z))
}

// Type names the value in -h: "--max-upload size".
func (z *Size) Type() string { return "size" }
