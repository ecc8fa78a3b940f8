package mp4

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// box builds a box of type typ around payload.
func box(typ string, payload ...[]byte) []byte {
	p := bytes.Join(payload, nil)
	b := binary.BigEndian.AppendUint32(nil, uint32(8+len(p)))
	return append(append(b, typ...), p...)
}

func u32s(v ...uint32) []byte {
	var b []byte
	for _, x := range v {
		b = binary.BigEndian.AppendUint32(b, x)
	}
	return b
}

// TestBoxFields reads the fields box.go names from boxes built by the
// specification's layout (ISO 14496-12), without any of movie.go's rules.
func TestBoxFields(t *testing.T) {
	mdhd0 := append(u32s(0, 1, 2, 48000, 96000), 0, 0, 0, 0)
	if h, ok := parseMdhd(mdhd0); !ok || h != (mdhd{timescale: 48000, duration: 96000}) {
		t.Errorf("mdhd v0 = %+v, %v", h, ok)
	}
	mdhd1 := append(append([]byte{1, 0, 0, 0}, make([]byte, 16)...), u32s(44100, 0, 88200, 0)...)
	if h, ok := parseMdhd(mdhd1); !ok || h != (mdhd{timescale: 44100, duration: 88200}) {
		t.Errorf("mdhd v1 = %+v, %v", h, ok)
	}
	if h, ok := parseMdhd(u32s(0, 1, 2, 1000, 0xFFFFFFFF)); !ok || !h.unknown {
		t.Errorf("mdhd of unknown duration = %+v, %v", h, ok)
	}
	if _, ok := parseMdhd([]byte{2, 0, 0, 0}); ok {
		t.Error("mdhd version 2 read")
	}
	if typ, ok := handlerType(append(u32s(0, 0), "soun"...)); !ok || typ != "soun" {
		t.Errorf("hdlr = %q, %v", typ, ok)
	}
	if ts, ok := mvhdTimescale(u32s(0, 1, 2, 600, 0)); !ok || ts != 600 {
		t.Errorf("mvhd = %d, %v", ts, ok)
	}

	stts := sttsTable(u32s(0, 2, 10, 1024, 1, 512))
	if n := stts.entries(); n != 2 {
		t.Fatalf("stts entries = %d", n)
	}
	if c, d := sttsEntry(stts.entry(1)); c != 1 || d != 512 {
		t.Errorf("stts entry 1 = %d, %d", c, d)
	}
	if n := sttsTable(u32s(0, 3, 10, 1024)).entries(); n != -1 {
		t.Errorf("stts claiming more entries than it holds: %d", n)
	}
	if f, p, d := stscEntry(stscTable(u32s(0, 1, 1, 20, 1)).entry(0)); f != 1 || p != 20 || d != 1 {
		t.Errorf("stsc entry = %d, %d, %d", f, p, d)
	}

	elst0, v, ok := elstTable(u32s(0, 1, 500, 0xFFFFFFFF, 0x10000))
	if e := elstEntry(elst0.entry(0), v); !ok || elst0.entries() != 1 || e != (edit{500, -1, 0x10000}) {
		t.Errorf("elst v0 = %+v", e)
	}
	elst1, v, ok := elstTable(u32s(1<<24, 1, 0, 500, 0, 1024, 0x10000))
	if e := elstEntry(elst1.entry(0), v); !ok || e != (edit{500, 1024, 0x10000}) {
		t.Errorf("elst v1 = %+v", e)
	}
}

// TestCollect: each box wanted once (two types may share a slot), the
// refused ones fail the walk, and so does a box overrunning its parent.
func TestCollect(t *testing.T) {
	var a, b []byte
	slots := map[string]*[]byte{"stsz": &a, "stz2": &a, "stco": &b}
	never := func(string) bool { return false }
	if !collect(bytes.Join([][]byte{box("stsz", []byte{1}), box("free"), box("stco", []byte{2})}, nil), slots, never) ||
		!bytes.Equal(a, []byte{1}) || !bytes.Equal(b, []byte{2}) {
		t.Errorf("collect = %v %v", a, b)
	}
	a, b = nil, nil
	if collect(append(box("stsz"), box("stz2")...), slots, never) {
		t.Error("stsz and stz2 both taken")
	}
	a = nil
	if collect(box("udta"), slots, tagBox) {
		t.Error("a refused box taken")
	}
	if collect(append(box("stco"), 0, 0, 0, 99, 's', 't', 's', 'z'), map[string]*[]byte{}, never) {
		t.Error("a box overrunning its parent taken")
	}
}

// TestAudioEntry reads the rate and children of ISO's AudioSampleEntry and
// of QuickTime's sound description version 1.
func TestAudioEntry(t *testing.T) {
	iso := append(make([]byte, 24), u32s(48000<<16)...)
	kid := box("esds", []byte{0, 0, 0, 0})
	if a, ok := parseAudioEntry(append(iso, kid...)); !ok || a.rate != 48000 || !bytes.Equal(a.kids, kid) {
		t.Errorf("AudioSampleEntry = %+v, %v", a, ok)
	}
	v1 := append(make([]byte, 24), u32s(44100<<16)...)
	binary.BigEndian.PutUint16(v1[8:], 1)
	v1 = append(v1, make([]byte, 16)...)
	if a, ok := parseAudioEntry(append(v1, kid...)); !ok || a.rate != 44100 || !bytes.Equal(a.kids, kid) {
		t.Errorf("sound description v1 = %+v, %v", a, ok)
	}
}
