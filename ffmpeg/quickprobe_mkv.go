package ffmpeg

import (
	"encoding/binary"
	"io"
	"math"
	"math/bits"
	"strings"

	"github.com/mp3converter/mp3converter"
)

// Matroska and WebM as ffmpeg's matroska demuxer (libavformat/matroskadec.c)
// reads them: the EBML header, then the segment's level-1 elements up to the
// first Cluster, then those the SeekHead points to (a muxer writes Tags,
// and often Cues, after the Clusters). ffprobe gives no stream duration for
// Matroska: the duration is Info's.

const mkvFormat = "matroska,webm"

// Element IDs, as the Matroska specification writes them (marker bits kept).
const (
	idEBML                    = 0x1A45DFA3
	idEBMLReadVersion         = 0x42F7
	idEBMLMaxIDLength         = 0x42F2
	idEBMLMaxSizeLength       = 0x42F3
	idDocType                 = 0x4282
	idDocTypeReadVersion      = 0x4285
	idSegment                 = 0x18538067
	idSeekHead                = 0x114D9B74
	idSeek                    = 0x4DBB
	idSeekID                  = 0x53AB
	idSeekPosition            = 0x53AC
	idInfo                    = 0x1549A966
	idTimestampScale          = 0x2AD7B1
	idDuration                = 0x4489
	idTitle                   = 0x7BA9
	idTracks                  = 0x1654AE6B
	idTrackEntry              = 0xAE
	idTrackType               = 0x83
	idCodecID                 = 0x86
	idCodecPrivate            = 0x63A2
	idContentEncodings        = 0x6D80
	idAudio                   = 0xE1
	idSamplingFrequency       = 0xB5
	idOutputSamplingFrequency = 0x78B5
	idCluster                 = 0x1F43B675
	idCues                    = 0x1C53BB6B
	idChapters                = 0x1043A770
	idAttachments             = 0x1941A469
	idTags                    = 0x1254C367
	idTag                     = 0x7373
	idTargets                 = 0x63C0
	idTargetType              = 0x63CA
	idTagTrackUID             = 0x63C5
	idTagChapterUID           = 0x63C4
	idTagAttachmentUID        = 0x63C6
	idSimpleTag               = 0x67C8
	idTagName                 = 0x45A3
	idTagLanguage             = 0x447A
	idTagLanguageIETF         = 0x447B
	idTagDefault              = 0x4484
	idTagDefaultBug           = 0x44B4 // an old libmatroska wrote TagDefault so
	idTagString               = 0x4487
)

const (
	maxEBMLHeader = 4 << 10
	// maxMaster bounds each Info, Tracks, SeekHead or Tags read whole.
	maxMaster = 4 << 20
	// maxLevel1 bounds the elements walked before the first Cluster.
	maxLevel1 = 1024
	// maxSeeks bounds the SeekHead entries followed.
	maxSeeks = 256
	// maxTracked is how many level-1 elements ffmpeg keeps track of; it
	// skips any more.
	maxTracked = 64
)

// level1IDs are the level-1 elements ffmpeg keeps track of, reading each
// once.
var level1IDs = map[uint32]bool{idSeekHead: true, idInfo: true, idTracks: true, idCues: true,
	idChapters: true, idAttachments: true, idTags: true}

func probeMKV(r io.ReaderAt, size int64) (*mp3converter.MediaInfo, bool) {
	id, data, n, ok := elementAt(r, 0, size)
	if !ok || id != idEBML || n > maxEBMLHeader {
		return nil, false
	}
	head, ok := readAt(r, data, n, size)
	if !ok || !ebmlHeaderOK(head) {
		return nil, false
	}
	id, data, n, ok = elementAt(r, data+n, size)
	if !ok || id != idSegment {
		return nil, false
	}
	s := segment{r: r, start: data, end: data + n}
	if !s.scan() || !s.followSeeks() {
		return nil, false
	}
	return s.info()
}

// ebmlHeaderOK checks the EBML header as ffmpeg does, which fails on
// features it lacks; and the DocType, which it only warns about.
func ebmlHeaderOK(b []byte) bool {
	docType := ""
	readVersion, maxID, maxSize, docRead := uint64(1), uint64(4), uint64(8), uint64(1)
	fields := map[uint32]*uint64{idEBMLReadVersion: &readVersion, idEBMLMaxIDLength: &maxID,
		idEBMLMaxSizeLength: &maxSize, idDocTypeReadVersion: &docRead}
	it := ebmlIter{rest: b}
	for it.next() {
		ok := true
		if p := fields[it.id]; p != nil {
			*p, ok = ebmlUint(it.data)
		} else if it.id == idDocType {
			docType = cString(it.data)
		}
		if !ok {
			return false
		}
	}
	return !it.bad && (docType == "matroska" || docType == "webm") &&
		readVersion <= 1 && maxID <= 4 && maxSize <= 8 && docRead <= 3
}

// ebmlID reads an element ID: 1 to 4 bytes, the marker bit kept.
func ebmlID(b []byte) (id uint32, n int, ok bool) {
	if len(b) == 0 || b[0] == 0 {
		return 0, 0, false
	}
	n = bits.LeadingZeros8(b[0]) + 1
	if n > 4 || n > len(b) {
		return 0, 0, false
	}
	for _, c := range b[:n] {
		id = id<<8 | uint32(c)
	}
	return id, n, true
}

// ebmlSize reads an element's data size: 1 to 8 bytes, the marker bit
// dropped. All ones is an unknown size (a live stream's), refused.
func ebmlSize(b []byte) (size uint64, n int, ok bool) {
	if len(b) == 0 || b[0] == 0 {
		return 0, 0, false
	}
	n = bits.LeadingZeros8(b[0]) + 1
	if n > len(b) {
		return 0, 0, false
	}
	size = uint64(b[0] & (0xFF >> n))
	for _, c := range b[1:n] {
		size = size<<8 | uint64(c)
	}
	return size, n, size != 1<<(7*n)-1
}

// elementAt reads the header of the element at off, which must end by
// end: its ID, and where its data is and how long.
func elementAt(r io.ReaderAt, off, end int64) (id uint32, data, size int64, ok bool) {
	if off < 0 || off >= end {
		return 0, 0, 0, false
	}
	var b [12]byte
	m, _ := r.ReadAt(b[:min(int64(len(b)), end-off)], off)
	id, i, ok := ebmlID(b[:m])
	if !ok {
		return 0, 0, 0, false
	}
	n, j, ok := ebmlSize(b[i:m])
	if !ok || n > uint64(end-off)-uint64(i+j) {
		return 0, 0, 0, false
	}
	return id, off + int64(i+j), int64(n), true
}

// ebmlIter walks the elements packed in a master element's data held in
// memory. An element that overruns its parent, has an unknown size or is
// no element ends the walk and sets bad.
type ebmlIter struct {
	rest []byte
	id   uint32
	data []byte
	bad  bool
}

func (it *ebmlIter) next() bool {
	if len(it.rest) == 0 {
		return false
	}
	id, i, ok := ebmlID(it.rest)
	if !ok {
		it.bad = true
		return false
	}
	n, j, ok := ebmlSize(it.rest[i:])
	if !ok || n > uint64(len(it.rest)-i-j) {
		it.bad = true
		return false
	}
	it.id, it.data, it.rest = id, it.rest[i+j:i+j+int(n)], it.rest[i+j+int(n):]
	return true
}

// ebmlUint reads an unsigned integer element: 0 to 8 bytes.
func ebmlUint(b []byte) (uint64, bool) {
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v, len(b) <= 8
}

// ebmlFloat reads a float element: 0, 4 or 8 bytes.
func ebmlFloat(b []byte) (float64, bool) {
	switch len(b) {
	case 0:
		return 0, true
	case 4:
		return float64(math.Float32frombits(binary.BigEndian.Uint32(b))), true
	case 8:
		return math.Float64frombits(binary.BigEndian.Uint64(b)), true
	}
	return 0, false
}

// segment is what a Segment says, as far as Probe needs.
type segment struct {
	r          io.ReaderAt
	start, end int64 // the Segment's data: SeekHead positions count from start

	tracked []level1 // the level-1 elements read
	seeks   []seekEntry

	hasInfo, hasTracks bool
	duration           float64 // seconds
	infoTitle          string
	tagTitle           string // the last global TITLE tag,
	tagTitleSet        bool   // which ffmpeg applies after Info's title

	audio int    // audio tracks
	codec string // the first one's, as ffprobe names it
	rate  int    // the first one's, in Hz
	mp3   bool   // an audio track is MP3
}

type level1 struct {
	id  uint32
	pos int64
}

type seekEntry struct {
	id  uint32
	pos uint64 // from the Segment's data
}

// scan reads the level-1 elements up to the first Cluster.
func (s *segment) scan() bool {
	for i, off := 0, s.start; off < s.end; i++ {
		id, data, size, ok := elementAt(s.r, off, s.end)
		if !ok || i == maxLevel1 {
			return false
		}
		if id == idCluster {
			return true
		}
		if !s.element(id, off, data, size) {
			return false
		}
		off = data + size
	}
	return true
}

// followSeeks reads the elements the SeekHeads point to, including
// further SeekHeads, as ffmpeg's matroska_execute_seekhead does. It skips
// Clusters, and Cues, which ffmpeg reads later.
func (s *segment) followSeeks() bool {
	for i := 0; i < len(s.seeks); i++ {
		e := s.seeks[i]
		if e.id == idCluster {
			continue
		}
		if e.pos >= uint64(s.end-s.start) {
			return false
		}
		pos := s.start + int64(e.pos)
		id, data, size, ok := elementAt(s.r, pos, s.end)
		if !ok || id != e.id || !s.element(id, pos, data, size) {
			return false
		}
	}
	return true
}

// element reads the level-1 element at pos unless it was read. ffmpeg
// reads every SeekHead and Tags, but only the first of the others: a
// second Info or Tracks it ignores is refused here.
func (s *segment) element(id uint32, pos, data, size int64) bool {
	if !level1IDs[id] {
		return true // Void, CRC-32, unknown: skipped
	}
	for _, e := range s.tracked {
		if e.id == id && e.pos == pos {
			return true
		}
		if e.id == id && id != idSeekHead && id != idTags {
			return false
		}
	}
	if len(s.tracked) == maxTracked {
		return false
	}
	s.tracked = append(s.tracked, level1{id, pos})
	var read func([]byte) bool
	switch id {
	case idInfo:
		read = s.readInfo
	case idTracks:
		read = s.readTracks
	case idSeekHead:
		read = s.readSeekHead
	case idTags:
		read = s.readTags
	default:
		return true // Cues, Chapters, Attachments: nothing Probe needs
	}
	if size > maxMaster {
		return false
	}
	b, ok := readAt(s.r, data, size, s.end)
	return ok && read(b)
}

// info is the MediaInfo of the segment. With two audio tracks, one of
// them MP3, it is not sure: which one ffmpeg maps is best left to ffprobe.
func (s *segment) info() (*mp3converter.MediaInfo, bool) {
	if !s.hasInfo || !s.hasTracks || s.audio == 0 || (s.audio > 1 && s.mp3) {
		return nil, false
	}
	title := s.infoTitle
	if s.tagTitleSet {
		title = s.tagTitle
	}
	return &mp3converter.MediaInfo{Format: mkvFormat, AudioCodec: s.codec, SampleRate: s.rate,
		Duration: s.duration, Title: CleanTitle(title)}, true
}

func (s *segment) readSeekHead(b []byte) bool {
	it := ebmlIter{rest: b}
	for it.next() {
		if it.id != idSeek {
			continue
		}
		var e seekEntry
		var id uint64
		hasID, hasPos, ok := false, false, true
		in := ebmlIter{rest: it.data}
		for ok && in.next() {
			switch in.id {
			case idSeekID:
				id, ok = ebmlUint(in.data)
				hasID, ok = true, ok && id <= math.MaxUint32
			case idSeekPosition:
				e.pos, ok = ebmlUint(in.data)
				hasPos = true
			}
		}
		if !ok || in.bad || !hasID || !hasPos || len(s.seeks) == maxSeeks {
			return false
		}
		e.id = uint32(id)
		s.seeks = append(s.seeks, e)
	}
	return !it.bad
}

// readInfo reads the duration and title. ffmpeg computes the duration
// in microseconds, Duration × TimestampScale (nanoseconds, 1,000,000 if
// absent or 0) / 1000, truncated; done the same way here, it agrees to
// the microsecond.
func (s *segment) readInfo(b []byte) bool {
	scale, dur := uint64(1000000), 0.0
	it := ebmlIter{rest: b}
	for it.next() {
		ok := true
		switch it.id {
		case idTimestampScale:
			scale, ok = ebmlUint(it.data)
		case idDuration:
			dur, ok = ebmlFloat(it.data)
		case idTitle:
			s.infoTitle = cString(it.data)
		}
		if !ok {
			return false
		}
	}
	if scale == 0 {
		scale = 1000000
	}
	us := dur * float64(scale) * 1000 / 1e6
	if it.bad || !(us >= 1 && us < maxSeconds*1e6) {
		return false // no duration: ffprobe estimates one
	}
	s.duration, s.hasInfo = math.Trunc(us)/1e6, true
	return true
}

func (s *segment) readTracks(b []byte) bool {
	it := ebmlIter{rest: b}
	for it.next() {
		if it.id != idTrackEntry {
			continue
		}
		t, ok := readTrackEntry(it.data)
		if !ok {
			return false
		}
		// ffmpeg skips an audio track whose CodecID is not an audio one.
		if t.typ != 2 || !strings.HasPrefix(t.codecID, "A") {
			continue
		}
		codec, rate, ok := t.codec()
		if !ok {
			return false
		}
		s.audio++
		s.mp3 = s.mp3 || codec == "mp3"
		if s.audio == 1 {
			s.codec, s.rate = codec, rate
		}
	}
	s.hasTracks = true
	return !it.bad
}

// mkvTrack is what Probe needs of a TrackEntry.
type mkvTrack struct {
	typ           uint64 // 1 video, 2 audio, ...
	codecID       string
	private       []byte
	encoded       bool    // ContentEncodings: CodecPrivate may be compressed
	rate, outRate float64 // SamplingFrequency (8000 if absent), OutputSamplingFrequency
}

func readTrackEntry(b []byte) (mkvTrack, bool) {
	t := mkvTrack{rate: 8000}
	it := ebmlIter{rest: b}
	for it.next() {
		ok := true
		switch it.id {
		case idTrackType:
			t.typ, ok = ebmlUint(it.data)
		case idCodecID:
			t.codecID = cString(it.data)
		case idCodecPrivate:
			t.private = it.data
		case idContentEncodings:
			t.encoded = true
		case idAudio:
			in := ebmlIter{rest: it.data}
			for ok && in.next() {
				switch in.id {
				case idSamplingFrequency:
					t.rate, ok = ebmlFloat(in.data)
				case idOutputSamplingFrequency:
					t.outRate, ok = ebmlFloat(in.data)
				}
			}
			ok = ok && !in.bad
		}
		if !ok {
			return t, false
		}
	}
	return t, !it.bad
}

// codec names an audio track's codec as ffprobe does (ffmpeg matches
// CodecID prefixes), with the rate its decoder reports: the codec's own
// configuration's where there is one, else the track's.
func (t *mkvTrack) codec() (string, int, bool) {
	id := t.codecID
	switch {
	case strings.HasPrefix(id, "A_AAC"):
		if t.encoded {
			return "", 0, false
		}
		rate, ok := aacRate(t.private)
		return "aac", rate, ok
	case strings.HasPrefix(id, "A_OPUS"):
		return "opus", 48000, true
	case strings.HasPrefix(id, "A_VORBIS"):
		rate, ok := vorbisRate(t.private)
		return "vorbis", rate, ok && !t.encoded
	case strings.HasPrefix(id, "A_FLAC"):
		if t.encoded || len(t.private) < 4 || string(t.private[:4]) != "fLaC" {
			return "", 0, false
		}
		rate, ok := flacRate(t.private[4:])
		return "flac", rate, ok
	case strings.HasPrefix(id, "A_MS/ACM"), strings.HasPrefix(id, "A_QUICKTIME"), strings.HasPrefix(id, "A_MPEG/"):
		// The codec is named inside CodecPrivate, and may be MP3; or, for
		// MPEG audio, ffmpeg parses the frames and names the layer they
		// have: A_MPEG/L3 holding Layer II probes as mp2.
		return "", 0, false
	}
	// The rate ffmpeg gives the stream, which the decoder keeps.
	rate := t.rate
	if t.outRate != 0 {
		rate = t.outRate
	}
	if !validRate(rate) {
		return "", 0, false
	}
	for _, c := range mkvCodecs {
		if strings.HasPrefix(id, c.id) {
			return c.name, int(rate), true
		}
	}
	name, ok := otherCodec(strings.ToLower(id))
	return name, int(rate), ok
}

// mkvCodecs names a few more codecs as ffprobe does; others go by their
// CodecID.
var mkvCodecs = []struct{ id, name string }{
	{"A_AC3", "ac3"}, {"A_EAC3", "eac3"},
	{"A_DTS", "dts"}, {"A_TRUEHD", "truehd"}, {"A_ALAC", "alac"},
}

// vorbisRate reads the rate from the Vorbis identification header, the
// first of three packets that CodecPrivate holds, Xiph-laced.
func vorbisRate(b []byte) (int, bool) {
	if len(b) < 1 || b[0] != 2 {
		return 0, false
	}
	pos, sizes := 1, [2]int{}
	for k := range sizes {
		for pos < len(b) && b[pos] == 255 {
			sizes[k] += 255
			pos++
		}
		if pos >= len(b) {
			return 0, false
		}
		sizes[k] += int(b[pos])
		pos++
	}
	id := b[pos:]
	if sizes[0] < 16 || sizes[0] > len(id) || string(id[:7]) != "\x01vorbis" {
		return 0, false
	}
	rate := binary.LittleEndian.Uint32(id[12:])
	return int(rate), rate > 0 && rate <= math.MaxInt32
}

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
			name = cString(it.data)
		case idTagString:
			value = cString(it.data)
		case idTagLanguage:
			lang = cString(it.data)
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
