package cmdio

import (
	"fmt"
	"math"
	"math/big"
)

// byteUnits are the web page's units: decimal, 1 KB = 1000 B.
var byteUnits = []string{"B", "KB", "MB", "GB", "TB"}

// Bytes is n bytes as the web page shows them (bytes in
// httpapi/web/app.js): B, KB, MB, GB or TB, 1000 of each making the next;
// one decimal below 10 of a unit above B, none otherwise, rounded half up
// as JavaScript's toFixed rounds; "0 B" for n <= 0. So 1250 is "1.3 KB",
// 12500 "13 KB" and 999999 "1000 KB", as on the page.
func Bytes(n int64) string { return bytesOf(float64(n)) }

// Rate is a speed in bytes per second as the page shows it: "1.2 MB/s".
func Rate(bytesPerSecond float64) string { return bytesOf(bytesPerSecond) + "/s" }

func bytesOf(n float64) string {
	if math.IsNaN(n) || math.IsInf(n, 0) || n <= 0 {
		return "0 B"
	}
	// The page takes the unit as floor(log(n) / log(1000)), which is the
	// largest power of 1000 at most n for every whole number of bytes (a
	// test holds the two to the same answers); below 1 B it has no unit,
	// where this says B.
	i, unit := 0, 1.0
	for i < len(byteUnits)-1 && n >= unit*1000 {
		i, unit = i+1, unit*1000
	}
	v := n / unit
	digits := 0
	if v < 10 && i > 0 {
		digits = 1
	}
	return toFixed(v, digits) + " " + byteUnits[i]
}

// toFixed is JavaScript's Number.prototype.toFixed for v >= 0 and digits
// 0 or 1: the exact value of v rounded half up, where strconv rounds half
// to even (1.25 is "1.3" here, "1.2" with strconv).
func toFixed(v float64, digits int) string {
	r := new(big.Rat).SetFloat64(v)
	scale := big.NewRat(int64(math.Pow10(digits)), 1)
	r.Mul(r, scale).Add(r, big.NewRat(1, 2))
	k := new(big.Int).Quo(r.Num(), r.Denom()) // floor: r > 0
	if digits == 0 {
		return k.String()
	}
	q, m := new(big.Int).QuoRem(k, big.NewInt(10), new(big.Int))
	return fmt.Sprintf("%s.%s", q, m)
}

// Duration is a length in seconds as the page shows it: "0:04", "12:30",
// "1:02:03"; "-" when unknown (0).
func Duration(seconds float64) string {
	if seconds <= 0 || math.IsNaN(seconds) || math.IsInf(seconds, 0) {
		return "-"
	}
	s := int64(math.Round(seconds))
	h, m, sec := s/3600, s%3600/60, s%60
	if h > 0 {
		return fmt.Sprintf("%d:%02d:%02d", h, m, sec)
	}
	return fmt.Sprintf("%d:%02d", m, sec)
}
