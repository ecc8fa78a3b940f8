package cmdio_test

import (
	"strings"
	"testing"

	"github.com/mp3converter/mp3converter/internal/cmdio"
)

func TestReadLine(t *testing.T) {
	for in, want := range map[string]string{"pw\r\nmore": "pw", "pw": "pw", "": "", "a b\n": "a b"} {
		if got, err := cmdio.ReadLine(strings.NewReader(in)); err != nil || got != want {
			t.Errorf("ReadLine(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestOneLine(t *testing.T) {
	if got := cmdio.OneLine(" a\n\tb  c "); got != "a b c" {
		t.Errorf("OneLine = %q", got)
	}
	if got := cmdio.OneLine(strings.Repeat("x", 200)); len(got) != 120 || !strings.HasSuffix(got, "...") {
		t.Errorf("OneLine of 200 bytes = %d bytes: %q", len(got), got)
	}
}
