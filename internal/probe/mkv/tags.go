package mkv

import (
	"strings"

	"github.com/mp3converter/mp3converter/internal/probe/codec"
)

// readTags reads the global tags named title, in order. As ffmpeg's
// matroska_convert_tags does, a tag is global unless its Targets name a
// track, chapter or attachment (TargetTypeValue does not matter); a
// TargetType prefixes its names ("MOVIE/TITLE"). ffmpeg's metadata keys
// are case-insensitive, so TITLE and title are the same tag.
func (s *segment) readTags(b []byte) bool {
	it := ebmlIter{rest: b}
	for it.next() {
		if it.id == idTag && !s.readTag(it.data) {
			return false
		}
	}
	return !it.bad
}

func (s *segment) readTag(b []byte) bool {
	global, typed, ok := tagTargets(b)
	if !ok {
		return false
	}
	it := ebmlIter{rest: b}
	for it.next() {
		if it.id != idSimpleTag {
			continue
		}
		value, named, applies, ok := titleTag(it.data)
		switch {
		case !ok || (named && global && typed):
			// A typed title is "TYPE/TITLE" to ffmpeg; refused all the same.
			return false
		case named && global && applies:
			s.tagTitle, s.tagTitleSet = value, true
		}
	}
	return !it.bad
}

// tagTargets reads a Tag's Targets: whether the tag is global, and
// whether it has a TargetType. A UID given twice (ffmpeg keeps the last)
// is refused.
func tagTargets(b []byte) (global, typed, ok bool) {
	global, targets := true, 0
	it := ebmlIter{rest: b}
	for it.next() {
		if it.id != idTargets {
			continue
		}
		if targets++; targets > 1 {
			return false, false, false
		}
		seen := map[uint32]bool{}
		in := ebmlIter{rest: it.data}
		for in.next() {
			switch in.id {
			case idTargetType:
				typed = true
			case idTagTrackUID, idTagChapterUID, idTagAttachmentUID:
				uid, ok := ebmlUint(in.data)
				if !ok || seen[in.id] {
					return false, false, false
				}
				seen[in.id], global = true, global && uid == 0
			}
		}
		if in.bad {
			return false, false, false
		}
	}
	return global, typed, !it.bad
}

// titleTag reads a SimpleTag: whether it is named title, and if so its
// value and whether ffmpeg sets the title from it. It does unless the
// tag has a language (not "und") and is not the default; then it sets
// only "TITLE-lang".
func titleTag(b []byte) (value string, named, applies, ok bool) {
	name, lang, def, ietf := "", "und", uint64(0), false
	it := ebmlIter{rest: b}
	for it.next() {
		ok := true
		switch it.id {
		case idTagName:
			name = codec.CString(it.data)
		case idTagString:
			value = codec.CString(it.data)
		case idTagLanguage:
			lang = codec.CString(it.data)
		case idTagLanguageIETF:
			ietf = true
		case idTagDefault, idTagDefaultBug:
			def, ok = ebmlUint(it.data)
		}
		if !ok {
			return "", false, false, false
		}
	}
	if it.bad {
		return "", false, false, false
	}
	if !strings.EqualFold(name, "title") {
		return "", false, false, true
	}
	// Without a TagString ffmpeg deletes the title: the same as "".
	return value, true, lang == "und" || def != 0, !ietf && lang != ""
}
