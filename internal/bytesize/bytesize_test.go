package bytesize_test

import (
	"flag"
	"testing"

	"github.com/mp3converter/mp3converter/internal/bytesize"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1048576", 1 << 20, true},
		{"2GiB", 2 << 30, true},
		{"2gib", 2 << 30, true},
		{" 2 GiB ", 2 << 30, true},
		{"500MB", 500e6, true},
		{"1.5G", 3 << 29, true},
		{"64K", 64 << 10, true},
		{"64KB", 64e3, true},
		{"3T", 3 << 40, true},
		{"1TB", 1e12, true},
		{"10B", 10, true},
		{"", 0, false},
		{"GiB", 0, false},
		{"0", 0, false},
		{"-1MB", 0, false},
		{"2 furlongs", 0, false},
		{"NaN", 0, false},
		{"Inf", 0, false},
		{"5000000TiB", 0, false}, // past 2^62
	}
	for _, tt := range tests {
		got, err := bytesize.Parse(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("Parse(%q) = %d, %v; want %d, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestFormat(t *testing.T) {
	tests := []struct {
		in   int64
		want string
	}{
		{0, "0 B"},
		{1, "1 B"},
		{1000001, "1000001 B"},
		{1 << 10, "1 KiB"},
		{64 << 10, "64 KiB"},
		{1 << 20, "1 MiB"},
		{3 << 19, "1536 KiB"},
		{2 << 30, "2 GiB"},
		{3 << 40, "3 TiB"},
		{500e6, "500 MB"},
		{1e12, "1 TB"},
		{1000, "1 KB"},
		{1024000, "1000 KiB"},
	}
	for _, tt := range tests {
		got := bytesize.Format(tt.in)
		if got != tt.want {
			t.Errorf("Format(%d) = %q, want %q", tt.in, got, tt.want)
		}
		if tt.in <= 0 {
			continue
		}
		if back, err := bytesize.Parse(got); err != nil || back != tt.in {
			t.Errorf("Parse(Format(%d)) = %d, %v", tt.in, back, err)
		}
	}
}

// A Size parses itself as a flag does, 0 included, and shows what it
// reads back.
func TestSize(t *testing.T) {
	var _ flag.Value = new(bytesize.Size)
	for _, tt := range []struct {
		in, shown string
		ok        bool
	}{
		{"2GiB", "2 GiB", true},
		{"64 KiB", "64 KiB", true},
		{"0", "0 B", true},
		{" 0 ", "0 B", true},
		{"0 B", "0 B", true},
		{"1000001", "1000001 B", true},
		{"-1", "", false},
		{"lots", "", false},
	} {
		var z bytesize.Size
		err := z.Set(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("Set(%q): %v, want ok %v", tt.in, err, tt.ok)
			continue
		}
		if !tt.ok {
			continue
		}
		if got := z.String(); got != tt.shown {
			t.Errorf("Set(%q).String() = %q, want %q", tt.in, got, tt.shown)
		}
		var back bytesize.Size
		if err := back.Set(z.String()); err != nil || back != z {
			t.Errorf("Set(%q) = %d, %v; want %d", z.String(), back, err, z)
		}
	}
}
