package bytesize_test

import (
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
