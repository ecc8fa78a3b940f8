package mp4

import (
	"encoding/binary"
	"strings"

	"github.com/mp3converter/mp3converter/internal/probe/codec"
)

// Titles. ffmpeg reads a title from QuickTime's udta/©nam and from iTunes
// metadata (meta/ilst/©nam/data), wherever udta, meta or ilst stand, the
// last one read winning. Only moov's own are taken; tags anywhere else in
// moov, or of a kind not parsed here (ID3 in ID32, Windows Media's Xtra,
// a "title" metadata key or freeform item) are refused.

func (m *movie) readUdta(b []byte) bool {
	it := boxIter{rest: b}
	for it.next() {
		ok := true
		switch it.typ {
		case "\xa9nam":
			m.title, ok = quickTimeString(it.data)
		case "meta":
			ok = m.readMeta(it.data)
		case "ilst":
			ok = m.readIlst(it.data)
		case "keys":
			ok = keysUntitled(it.data)
		case "udta", "ID32", "Xtra":
			ok = false
		}
		if !ok {
			return false
		}
	}
	return !it.bad
}

// readMeta reads a meta box. ffmpeg looks for its hdlr rather than
// expect ISO's version and flags, so QuickTime's meta, which has none,
// parses too.
func (m *movie) readMeta(b []byte) bool {
	switch {
	case len(b) < 12 || string(b[:4]) == "hdlr":
		return false
	case string(b[4:8]) == "hdlr":
	case string(b[8:12]) == "hdlr":
		b = b[4:]
	default:
		return false
	}
	it := boxIter{rest: b}
	for it.next() {
		ok := true
		switch it.typ {
		case "ilst":
			ok = m.readIlst(it.data)
		case "keys":
			ok = keysUntitled(it.data)
		case "udta", "meta", "ID32", "Xtra":
			ok = false
		}
		if !ok {
			return false
		}
	}
	return !it.bad
}

func (m *movie) readIlst(b []byte) bool {
	it := boxIter{rest: b}
	for it.next() {
		ok := true
		switch {
		case it.typ == "\xa9nam":
			m.title, ok = itunesString(it.data)
		case it.typ == "----":
			ok = freeformUntitled(it.data)
		case tagBox(it.typ):
			ok = false
		}
		if !ok {
			return false
		}
	}
	return !it.bad
}

// quickTimeString reads a QuickTime user data text: 16-bit length,
// 16-bit language, text. A length that does not fit makes ffmpeg read
// the box raw, or past its end; refused.
func quickTimeString(b []byte) (string, bool) {
	if len(b) <= 4 {
		return "", false
	}
	n, lang := int(binary.BigEndian.Uint16(b)), binary.BigEndian.Uint16(b[2:])
	if n > len(b)-4 {
		return "", false
	}
	// Old Macintosh language codes mean Mac Roman text.
	return macString(b[4:4+n], lang < 0x400 || lang == 0x7fff)
}

// itunesString reads the value of an iTunes metadata item: its first
// child, a data box of type, locale and text.
func itunesString(b []byte) (string, bool) {
	if len(b) <= 8 || string(b[4:8]) != "data" {
		return "", false
	}
	n := binary.BigEndian.Uint32(b)
	if n < 16 || uint64(n) > uint64(len(b)) {
		return "", false
	}
	switch binary.BigEndian.Uint32(b[8:]) {
	case 1, 4: // UTF-8
		return macString(b[16:n], false)
	case 0, 3: // Mac Roman, for ffmpeg
		return macString(b[16:n], true)
	}
	return "", false // numbers, pictures, UTF-16: ffmpeg versions differ
}

// macString is text as ffmpeg stores it. Mac Roman is converted by a
// table; only its ASCII part, the same in UTF-8, is taken here.
func macString(b []byte, mac bool) (string, bool) {
	if mac {
		for _, c := range b {
			if c >= 0x80 {
				return "", false
			}
		}
	}
	return codec.CString(b), true
}

// keysUntitled says whether a metadata keys box names no "title", which
// ffmpeg would make the file's title. Its count must match its entries:
// ffmpeg reads as many as it says, past the box if need be.
func keysUntitled(b []byte) bool {
	if len(b) < 8 {
		return false
	}
	count := binary.BigEndian.Uint32(b[4:])
	b = b[8:]
	for ; count > 0; count-- {
		if len(b) < 8 {
			return false
		}
		n := binary.BigEndian.Uint32(b)
		if n < 8 || uint64(n) > uint64(len(b)) {
			return false
		}
		if string(b[4:8]) == "mdta" && strings.EqualFold(codec.CString(b[8:n]), "title") {
			return false
		}
		b = b[n:]
	}
	return len(b) == 0
}

// freeformUntitled says whether an iTunes freeform item (----: mean,
// name, data) is not named "title", which ffmpeg would make the title.
func freeformUntitled(b []byte) bool {
	it := boxIter{rest: b}
	for it.next() {
		if it.typ == "name" && (len(it.data) < 4 || strings.EqualFold(codec.CString(it.data[4:]), "title")) {
			return false
		}
	}
	return !it.bad
}

// trackUdtaUntitled says whether a trak's udta holds nothing ffmpeg
// reads a title from.
func trackUdtaUntitled(b []byte) bool {
	it := boxIter{rest: b}
	for it.next() {
		if it.typ == "\xa9nam" || tagBox(it.typ) {
			return false
		}
	}
	return !it.bad
}
