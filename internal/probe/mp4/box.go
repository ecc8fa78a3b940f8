package mp4

import (
	"encoding/binary"
	"io"
	"math"
)

// The structure of ISO BMFF (ISO 14496-12) and QuickTime: boxes and the
// fixed fields of the boxes Probe reads, named as the specification names
// them. Nothing here decides what a file means (movie.go, track.go).

// boxHeaderAt reads the header of the top-level box at off: its type,
// header length and size. A size 0 box runs to the end of the file, which
// only a final mdat may do.
func boxHeaderAt(r io.ReaderAt, off, size int64) (typ string, hdr, n int64, ok bool) {
	var b [16]byte
	m, _ := r.ReadAt(b[:], off)
	if m < 8 {
		return "", 0, 0, false
	}
	typ, n, hdr = string(b[4:8]), int64(binary.BigEndian.Uint32(b[:4])), 8
	switch n {
	case 0:
		if typ != "mdat" {
			return "", 0, 0, false
		}
		n = size - off
	case 1:
		large := binary.BigEndian.Uint64(b[8:])
		if m < 16 || large > math.MaxInt64 {
			return "", 0, 0, false
		}
		n, hdr = int64(large), 16
	}
	if n < hdr || n > size-off {
		return "", 0, 0, false
	}
	return typ, hdr, n, true
}

// boxIter walks the boxes packed in a payload held in memory. A box that
// overruns its parent, or a size 0 one, ends the walk and sets bad; fewer
// than 8 bytes left over are skipped, as ffmpeg does (QuickTime ends
// udta with a zero word).
type boxIter struct {
	rest []byte
	typ  string
	data []byte
	bad  bool
}

func (it *boxIter) next() bool {
	if len(it.rest) < 8 {
		return false
	}
	n, hdr := uint64(binary.BigEndian.Uint32(it.rest)), uint64(8)
	if n == 1 && len(it.rest) >= 16 {
		n, hdr = binary.BigEndian.Uint64(it.rest[8:]), 16
	}
	if n < hdr || n > uint64(len(it.rest)) {
		it.bad = true
		return false
	}
	it.typ, it.data, it.rest = string(it.rest[4:8]), it.rest[hdr:n], it.rest[n:]
	return true
}

// once keeps b in *dst, or says false if a box of its kind came before.
func once(dst *[]byte, b []byte) bool {
	if *dst != nil {
		return false
	}
	*dst = b
	return true
}

// collect keeps the payload of each box in b whose type is a key of
// slots in its slot, each slot at most once (two types may share one:
// either, once); refuse(typ) true for any box fails it.
func collect(b []byte, slots map[string]*[]byte, refuse func(typ string) bool) bool {
	it := boxIter{rest: b}
	for it.next() {
		if refuse(it.typ) {
			return false
		}
		if dst := slots[it.typ]; dst != nil && !once(dst, it.data) {
			return false
		}
	}
	return !it.bad
}

// mvhdTimescale reads a movie header's timescale: after version and
// flags, creation and modification times (32 or 64 bits each).
func mvhdTimescale(b []byte) (uint32, bool) {
	switch {
	case len(b) >= 20 && b[0] == 0:
		return binary.BigEndian.Uint32(b[12:]), true
	case len(b) >= 32 && b[0] == 1:
		return binary.BigEndian.Uint32(b[20:]), true
	}
	return 0, false
}

// mdhd is a media header's timescale and duration. Version 0's duration
// of all ones is unknown.
type mdhd struct {
	timescale uint32
	duration  uint64
	unknown   bool
}

func parseMdhd(b []byte) (mdhd, bool) {
	switch {
	case len(b) >= 20 && b[0] == 0:
		d := binary.BigEndian.Uint32(b[16:])
		return mdhd{timescale: binary.BigEndian.Uint32(b[12:]), duration: uint64(d), unknown: d == math.MaxUint32}, true
	case len(b) >= 32 && b[0] == 1:
		return mdhd{timescale: binary.BigEndian.Uint32(b[20:]), duration: binary.BigEndian.Uint64(b[24:])}, true
	}
	return mdhd{}, false
}

// handlerType reads a handler reference's handler_type (QuickTime's
// component subtype): after version and flags, and pre_defined
// (QuickTime's component type).
func handlerType(hdlr []byte) (string, bool) {
	if len(hdlr) < 12 {
		return "", false
	}
	return string(hdlr[8:12]), true
}

// stsdEntries reads a sample description box's entry_count.
func stsdEntries(stsd []byte) (uint32, bool) {
	if len(stsd) < 8 {
		return 0, false
	}
	return binary.BigEndian.Uint32(stsd[4:]), true
}

// firstEntry returns the type and payload of the first sample entry of
// an stsd box of version 0. (ffmpeg reads QuickTime's sound description
// fields only in version 0.)
func firstEntry(stsd []byte) (typ string, entry []byte, ok bool) {
	if len(stsd) < 16 || stsd[0] != 0 {
		return "", nil, false
	}
	it := boxIter{rest: stsd[8:]}
	if !it.next() {
		return "", nil, false
	}
	return it.typ, it.data, true
}

// table is a FullBox of entry_count entries of size bytes each, after
// head bytes (version and flags, and any fields before the count).
type table struct {
	b          []byte
	head, size int
}

// entries is the entry_count, if the box holds that many entries; -1 if not.
func (t table) entries() int {
	if len(t.b) < t.head+4 {
		return -1
	}
	n := uint64(binary.BigEndian.Uint32(t.b[t.head:]))
	if n > uint64(len(t.b)-t.head-4)/uint64(t.size) {
		return -1
	}
	return int(n)
}

// entry returns entry i's bytes.
func (t table) entry(i int) []byte {
	off := t.head + 4 + i*t.size
	return t.b[off : off+t.size]
}

// sttsTable is a time-to-sample box: entries of sample_count and
// sample_delta.
func sttsTable(b []byte) table { return table{b: b, head: 4, size: 8} }

func sttsEntry(e []byte) (count, delta uint32) {
	return binary.BigEndian.Uint32(e), binary.BigEndian.Uint32(e[4:])
}

// stscTable is a sample-to-chunk box: entries of first_chunk,
// samples_per_chunk and sample_description_index.
func stscTable(b []byte) table { return table{b: b, head: 4, size: 12} }

func stscEntry(e []byte) (first, perChunk, desc uint32) {
	return binary.BigEndian.Uint32(e), binary.BigEndian.Uint32(e[4:]), binary.BigEndian.Uint32(e[8:])
}

// stszSamples reads the sample_count of stsz (after sample_size) or stz2
// (after reserved bits and field_size): the same place.
func stszSamples(b []byte) (uint32, bool) {
	if len(b) < 12 {
		return 0, false
	}
	return binary.BigEndian.Uint32(b[8:]), true
}

// stcoChunks reads the entry_count of stco or co64.
func stcoChunks(b []byte) (uint32, bool) {
	if len(b) < 8 {
		return 0, false
	}
	return binary.BigEndian.Uint32(b[4:]), true
}

// edit is an entry of an edit list.
type edit struct {
	duration  uint64 // in the movie's timescale
	mediaTime int64  // -1 for an empty edit
	rate      uint32 // media_rate, 16.16: 0x10000 is normal speed
}

// elstTable is an edit list box of version 0 or 1 (64-bit fields); ok
// false for another version.
func elstTable(b []byte) (t table, version byte, ok bool) {
	if len(b) < 8 || b[0] > 1 {
		return table{}, 0, false
	}
	return table{b: b, head: 4, size: 12 + 8*int(b[0])}, b[0], true
}

func elstEntry(e []byte, version byte) edit {
	if version == 1 {
		return edit{binary.BigEndian.Uint64(e), int64(binary.BigEndian.Uint64(e[8:])), binary.BigEndian.Uint32(e[16:])}
	}
	return edit{uint64(binary.BigEndian.Uint32(e)), int64(int32(binary.BigEndian.Uint32(e[4:]))), binary.BigEndian.Uint32(e[8:])}
}

// audioEntry is the fixed part of an audio sample entry: ISO 14496-12's
// AudioSampleEntry, or QuickTime's sound description of version 0 to 2,
// then child boxes with the codec's configuration.
type audioEntry struct {
	rate int    // samplerate's integer part, or version 2's audioSampleRate
	kids []byte // the child boxes
}

func parseAudioEntry(e []byte) (audioEntry, bool) {
	if len(e) < 28 {
		return audioEntry{}, false
	}
	a := audioEntry{rate: int(binary.BigEndian.Uint32(e[24:]) >> 16), kids: e[28:]}
	switch binary.BigEndian.Uint16(e[8:]) { // QuickTime's version
	case 0:
	case 1:
		if len(e) < 44 {
			return audioEntry{}, false
		}
		a.kids = e[44:]
	case 2:
		if len(e) < 64 {
			return audioEntry{}, false
		}
		f := math.Float64frombits(binary.BigEndian.Uint64(e[32:]))
		if !(f >= 1 && f <= math.MaxInt32) {
			return audioEntry{}, false
		}
		a.rate, a.kids = int(f), e[64:]
	default:
		return audioEntry{}, false
	}
	return a, true
}

// esdsConfig reads an esds box (ISO 14496-1 ES_Descriptor): the
// DecoderConfigDescriptor's objectTypeIndication, and what follows its
// fixed fields (the DecoderSpecificInfo, if any).
func esdsConfig(b []byte) (objectType byte, rest []byte, ok bool) {
	if len(b) < 4 {
		return 0, nil, false
	}
	es, ok := descriptor(b[4:], 3)
	if !ok || len(es) < 3 {
		return 0, nil, false
	}
	flags, skip := es[2], 3
	if flags&0x80 != 0 { // stream dependence
		skip += 2
	}
	if flags&0x40 != 0 && len(es) > skip { // URL
		skip += 1 + int(es[skip])
	}
	if flags&0x20 != 0 { // OCR stream
		skip += 2
	}
	if skip > len(es) {
		return 0, nil, false
	}
	dc, ok := descriptor(es[skip:], 4)
	if !ok || len(dc) < 13 {
		return 0, nil, false
	}
	return dc[0], dc[13:], true
}

// descriptor returns the body of the MPEG-4 descriptor at the start of b
// if its tag is tag. Its length takes 7 bits a byte, at most 4 bytes.
func descriptor(b []byte, tag byte) ([]byte, bool) {
	if len(b) < 2 || b[0] != tag {
		return nil, false
	}
	n, i := 0, 1
	for ; i <= 4 && i < len(b); i++ {
		n = n<<7 | int(b[i]&0x7f)
		if b[i]&0x80 == 0 {
			break
		}
	}
	if i > 4 || i >= len(b) || n > len(b)-i-1 {
		return nil, false
	}
	return b[i+1 : i+1+n], true
}
