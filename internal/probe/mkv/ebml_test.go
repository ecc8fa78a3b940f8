package mkv

import (
	"bytes"
	"testing"
)

// TestEBML reads element IDs, sizes and values as RFC 8794 lays them out,
// without any of segment.go's rules.
func TestEBML(t *testing.T) {
	for _, tt := range []struct {
		b    []byte
		id   uint32
		n    int
		fail bool
	}{
		{b: []byte{0xAE}, id: 0xAE, n: 1},
		{b: []byte{0x42, 0x86}, id: 0x4286, n: 2},
		{b: []byte{0x1A, 0x45, 0xDF, 0xA3}, id: idEBML, n: 4},
		{b: []byte{0x08, 0, 0, 0, 0}, fail: true}, // five bytes: too long
		{b: []byte{0x42}, fail: true},             // cut short
		{b: []byte{0}, fail: true},
	} {
		id, n, ok := ebmlID(tt.b)
		if ok == tt.fail || (ok && (id != tt.id || n != tt.n)) {
			t.Errorf("ebmlID(% x) = %#x, %d, %v", tt.b, id, n, ok)
		}
	}
	for _, tt := range []struct {
		b    []byte
		size uint64
		n    int
		fail bool
	}{
		{b: []byte{0x81}, size: 1, n: 1},
		{b: []byte{0x40, 0x02}, size: 2, n: 2},
		{b: []byte{0x01, 0, 0, 0, 0, 0, 1, 0}, size: 256, n: 8},
		{b: []byte{0xFF}, fail: true},       // all ones: unknown
		{b: []byte{0x7F, 0xFF}, fail: true}, // the same in two bytes
		{b: []byte{0x40}, fail: true},       // cut short
	} {
		size, n, ok := ebmlSize(tt.b)
		if ok == tt.fail || (ok && (size != tt.size || n != tt.n)) {
			t.Errorf("ebmlSize(% x) = %d, %d, %v", tt.b, size, n, ok)
		}
	}
	if v, ok := ebmlUint([]byte{1, 0}); !ok || v != 256 {
		t.Errorf("ebmlUint = %d, %v", v, ok)
	}
	if _, ok := ebmlUint(make([]byte, 9)); ok {
		t.Error("a 9-byte uint read")
	}
	if f, ok := ebmlFloat([]byte{0x40, 0x49, 0x0F, 0xDB}); !ok || f < 3.1415 || f > 3.1416 {
		t.Errorf("ebmlFloat = %v, %v", f, ok)
	}
	if _, ok := ebmlFloat([]byte{1, 2}); ok {
		t.Error("a 2-byte float read")
	}
	// Info { Title "ab" } Void, then an element overrunning its parent.
	it := ebmlIter{rest: []byte{0x7B, 0xA9, 0x82, 'a', 'b', 0xEC, 0x80, 0xAE, 0x85, 1}}
	var ids []uint32
	for it.next() {
		ids = append(ids, it.id)
		if it.id == idTitle && !bytes.Equal(it.data, []byte("ab")) {
			t.Errorf("Title holds %q", it.data)
		}
	}
	if len(ids) != 2 || ids[0] != idTitle || ids[1] != 0xEC || !it.bad {
		t.Errorf("walked %x, bad %v", ids, it.bad)
	}
}
