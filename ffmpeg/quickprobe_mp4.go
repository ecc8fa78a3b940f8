package ffmpeg

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/bits"
	"slices"
	"strings"

	"github.com/mp3converter/mp3converter"
)

// ISO BMFF (MP4, QuickTime, 3GP) as ffmpeg's mov demuxer (libavformat/mov.c)
// reads it: the first audio track's codec, rate and duration, and the
// movie's title.

const (
	mp4Format = "mov,mp4,m4a,3gp,3g2,mj2"
	// maxMoov bounds the one box read whole; a two-hour film's is a few MiB.
	maxMoov = 64 << 20
	// maxTopBoxes bounds the walk over the top level, which ffmpeg takes to
	// the end of the file; a plain file has four or five boxes.
	maxTopBoxes = 1024
)

// topLevel are the boxes a plain file holds at its top level. Anything
// else is refused: fragments (moof, sidx, styp, mfra), a moov hidden in a
// hoov, a top-level meta or udta that ffmpeg would read tags from.
var topLevel = map[string]bool{"ftyp": true, "moov": true, "mdat": true, "free": true, "skip": true, "wide": true, "uuid": true}

func probeMP4(r io.ReaderAt, size int64) (*mp3converter.MediaInfo, bool) {
	m, ok := readMovie(r, size)
	if !ok {
		return nil, false
	}
	return m.info()
}

// readMovie reads the moov of the MP4 in r, size bytes long.
func readMovie(r io.ReaderAt, size int64) (*movie, bool) {
	at, n, ok := findMoov(r, size)
	if !ok {
		return nil, false
	}
	moov, ok := readAt(r, at, n, size)
	if !ok {
		return nil, false
	}
	var m movie
	return &m, m.read(moov)
}

// sampleExact says whether the first audio track of the MP4 at path is
// timed in a multiple of its sample rate, so that every sample has an exact
// time and a seek lands on the sample asked (see seek.go); false for any
// doubt. A track timed in milliseconds, say, is not.
func sampleExact(path string) bool {
	return parseFile(path, func(r io.ReaderAt, size int64) bool {
		m, ok := readMovie(r, size)
		return ok && m.audio > 0 && m.first.rate > 0 && m.first.timescale%uint32(m.first.rate) == 0
	})
}

// findMoov walks the top-level boxes to the end of the file, as ffmpeg
// does on a seekable file, stepping over mdat by its size, and returns
// where moov's payload is.
func findMoov(r io.ReaderAt, size int64) (at, n int64, ok bool) {
	at = -1
	for i, off := 0, int64(0); off < size; i++ {
		typ, hdr, boxSize, ok := boxHeaderAt(r, off, size)
		if !ok || i == maxTopBoxes || (i == 0) != (typ == "ftyp") || !topLevel[typ] {
			return 0, 0, false
		}
		if typ == "ftyp" && boxSize-hdr < 8 { // no major brand and version: ffmpeg fails
			return 0, 0, false
		}
		if typ == "moov" {
			if at >= 0 || boxSize-hdr > maxMoov {
				return 0, 0, false
			}
			at, n = off+hdr, boxSize-hdr
		}
		off += boxSize
	}
	return at, n, at >= 0
}

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

// tagBox says whether a box of type typ carries tags that ffmpeg reads
// into the file's metadata wherever it finds it: user data, iTunes
// metadata, ID3 and Windows Media tags.
func tagBox(typ string) bool {
	switch typ {
	case "udta", "meta", "ilst", "keys", "ID32", "Xtra":
		return true
	}
	return false
}

// movie is what a moov box says, as far as Probe needs.
type movie struct {
	timescale uint32 // mvhd's: edit lists are in it
	hasMvhd   bool
	audio     int      // audio tracks
	first     mp4Track // the first of them
	mp3       bool     // an audio track is MP3
	title     string   // the last title read, as ffmpeg keeps the last
}

func (m *movie) read(moov []byte) bool {
	it := boxIter{rest: moov}
	for it.next() {
		ok := true
		switch it.typ {
		case "mvhd":
			ok = !m.hasMvhd && m.readMvhd(it.data)
		case "trak":
			ok = m.addTrack(it.data)
		case "udta":
			ok = m.readUdta(it.data)
		case "meta":
			ok = m.readMeta(it.data)
		case "ilst":
			ok = m.readIlst(it.data)
		case "mvex", "cmov", "rmra", "keys", "ID32", "Xtra":
			// Fragments, a compressed movie, a reference movie; tags.
			ok = false
		}
		if !ok {
			return false
		}
	}
	return !it.bad && m.hasMvhd
}

func (m *movie) readMvhd(b []byte) bool {
	switch {
	case len(b) >= 20 && b[0] == 0:
		m.timescale = binary.BigEndian.Uint32(b[12:])
	case len(b) >= 32 && b[0] == 1:
		m.timescale = binary.BigEndian.Uint32(b[20:])
	default:
		return false
	}
	m.hasMvhd = true
	return m.timescale > 0 && m.timescale <= math.MaxInt32
}

func (m *movie) addTrack(b []byte) bool {
	t, ok := readTrak(b)
	if !ok {
		return false
	}
	if t.handler != "soun" {
		return true
	}
	m.audio++
	m.mp3 = m.mp3 || t.codec == "mp3"
	if m.audio == 1 {
		m.first = t
	}
	return true
}

// info is the MediaInfo of the movie. With two audio tracks, one of them
// MP3, it is not sure: which one ffmpeg maps is best left to ffprobe.
func (m *movie) info() (*mp3converter.MediaInfo, bool) {
	if m.audio == 0 || (m.audio > 1 && m.mp3) {
		return nil, false
	}
	d, ok := m.first.seconds(m.timescale)
	if !ok {
		return nil, false
	}
	return &mp3converter.MediaInfo{Format: mp4Format, AudioCodec: m.first.codec, SampleRate: m.first.rate,
		Duration: d, Title: CleanTitle(m.title)}, true
}

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
	return cString(b), true
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
		if string(b[4:8]) == "mdta" && strings.EqualFold(cString(b[8:n]), "title") {
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
		if it.typ == "name" && (len(it.data) < 4 || strings.EqualFold(cString(it.data[4:]), "title")) {
			return false
		}
	}
	return !it.bad
}

// fourccName names a codec ffprobe would call something else: its
// fourcc, printable, never empty or mp3.
func fourccName(typ string) (string, bool) {
	for _, c := range []byte(typ) {
		if c < 0x20 || c > 0x7e {
			return otherCodec(fmt.Sprintf("0x%x", typ))
		}
	}
	return otherCodec(typ)
}

// rescale is ffmpeg's av_rescale: a*b/c rounded to nearest, halves up.
func rescale(a, b, c uint64) (uint64, bool) {
	hi, lo := bits.Mul64(a, b)
	lo, carry := bits.Add64(lo, c/2, 0)
	hi += carry
	if c == 0 || hi >= c {
		return 0, false
	}
	q, _ := bits.Div64(hi, lo, c)
	return q, q <= math.MaxInt64
}

// Tracks.

// mp4Track is what Probe needs of a trak.
type mp4Track struct {
	handler   string // the media handler: vide, soun, ...
	timescale uint32 // mdhd's
	duration  uint64 // mdhd's, in timescale
	elst      []byte // the edit list's payload, if any
	codec     string // an audio track's, as ffprobe names it
	rate      int    // an audio track's, in Hz
	sttsSum   uint64 // the samples' durations summed, in timescale
}

// once keeps b in *dst, or says false if a box of its kind came before.
func once(dst *[]byte, b []byte) bool {
	if *dst != nil {
		return false
	}
	*dst = b
	return true
}

// sampleTable holds the payloads of a stbl's boxes that matter.
type sampleTable struct {
	stsd, stts, stsc, stsz, stco []byte
	ctts                         bool // composition offsets: a dts shift
}

func readTrak(b []byte) (mp4Track, bool) {
	var t mp4Track
	var mdia, edts []byte
	it := boxIter{rest: b}
	for it.next() {
		ok := true
		switch {
		case it.typ == "mdia":
			ok = once(&mdia, it.data)
		case it.typ == "edts":
			ok = once(&edts, it.data)
		case it.typ == "udta":
			// ffmpeg's mov muxer writes a track's name here.
			ok = trackUdtaUntitled(it.data)
		case tagBox(it.typ) || it.typ == "trak":
			ok = false
		}
		if !ok {
			return t, false
		}
	}
	if it.bad || mdia == nil {
		return t, false
	}
	if edts != nil {
		it := boxIter{rest: edts}
		for it.next() {
			if it.typ == "elst" && !once(&t.elst, it.data) {
				return t, false
			}
		}
		if it.bad {
			return t, false
		}
	}
	return t, t.readMdia(mdia)
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

// children returns the payloads of the boxes in b of the types wanted,
// each at most once ("stco|co64": either, once), refusing tag boxes,
// which ffmpeg would read.
func children(b []byte, want ...string) ([][]byte, bool) {
	found := make([][]byte, len(want))
	it := boxIter{rest: b}
	for it.next() {
		if tagBox(it.typ) || it.typ == "trak" {
			return nil, false
		}
		for i, w := range want {
			for alt := range strings.SplitSeq(w, "|") {
				if alt == it.typ && !once(&found[i], it.data) {
					return nil, false
				}
			}
		}
	}
	return found, !it.bad
}

func (t *mp4Track) readMdia(b []byte) bool {
	mdia, ok := children(b, "mdhd", "hdlr", "minf")
	if !ok || mdia[0] == nil || mdia[1] == nil || mdia[2] == nil || len(mdia[1]) < 12 || !t.readMdhd(mdia[0]) {
		return false
	}
	t.handler = string(mdia[1][8:12])
	minf, ok := children(mdia[2], "hdlr", "stbl")
	if !ok || minf[1] == nil {
		return false
	}
	// QuickTime's data handler has a subtype too, and ffmpeg would take a
	// media type from it.
	if h := minf[0]; h != nil && (len(h) < 12 || slices.Contains(mediaHandlers, string(h[8:12]))) {
		return false
	}
	stbl, ok := children(minf[1], "stsd", "stts", "stsc", "stsz|stz2", "stco|co64", "ctts", "cslg")
	if !ok {
		return false
	}
	st := sampleTable{stsd: stbl[0], stts: stbl[1], stsc: stbl[2], stsz: stbl[3], stco: stbl[4], ctts: stbl[5] != nil || stbl[6] != nil}
	switch t.handler {
	case "vide":
		return true
	case "soun":
		return t.readSound(st)
	}
	return notSound(st.stsd)
}

func (t *mp4Track) readMdhd(b []byte) bool {
	switch {
	case len(b) >= 20 && b[0] == 0:
		t.timescale, t.duration = binary.BigEndian.Uint32(b[12:]), uint64(binary.BigEndian.Uint32(b[16:]))
		if t.duration == math.MaxUint32 {
			return false // unknown
		}
	case len(b) >= 32 && b[0] == 1:
		t.timescale, t.duration = binary.BigEndian.Uint32(b[20:]), binary.BigEndian.Uint64(b[24:])
	default:
		return false
	}
	return t.timescale > 0 && t.timescale <= math.MaxInt32 && t.duration > 0 && t.duration <= math.MaxInt64
}

// mediaHandlers are the handler types ffmpeg takes a stream's media type
// from.
var mediaHandlers = []string{"vide", "soun", "m1a ", "subp", "clcp"}

// notAudio are sample entries of timecode, text, subtitle, hint and
// metadata tracks: none is an audio codec's.
var notAudio = []string{"tmcd", "tx3g", "text", "wvtt", "stpp", "c608", "c708", "mp4s", "mebx", "gpmd",
	"rtp ", "camm", "fdsc", "rtmd", "mett", "metx", "sbtt", "stxt"}

// notSound says whether a track that is neither video nor sound is not
// audio either. ffmpeg makes any such track audio if its sample entry is
// an audio codec's, so only entries known to be something else pass.
func notSound(stsd []byte) bool {
	if stsd == nil {
		return true
	}
	if len(stsd) < 8 {
		return false
	}
	switch binary.BigEndian.Uint32(stsd[4:]) {
	case 0:
		return true
	case 1:
		typ, _, ok := firstEntry(stsd)
		return ok && slices.Contains(notAudio, typ)
	}
	return false
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

// readSound reads an audio track's codec and timing. The track must have
// one sample description and a consistent index: ffmpeg skips the edit
// list of a track whose index it cannot build, which changes its
// duration.
func (t *mp4Track) readSound(st sampleTable) bool {
	if len(st.stsd) < 8 || binary.BigEndian.Uint32(st.stsd[4:]) != 1 || st.ctts {
		return false
	}
	typ, entry, ok := firstEntry(st.stsd)
	if !ok {
		return false
	}
	if t.codec, t.rate, ok = soundEntry(typ, entry); !ok {
		return false
	}
	t.sttsSum, ok = sttsDuration(st.stts)
	if !ok {
		return false
	}
	// The counts of stsz or stz2 (after a sample size or field size), and
	// of stco or co64.
	if len(st.stsz) < 12 || len(st.stco) < 8 {
		return false
	}
	samples, chunks := binary.BigEndian.Uint32(st.stsz[8:]), binary.BigEndian.Uint32(st.stco[4:])
	return samples > 0 && samples < 1<<28 && chunks > 0 && chunksHold(st.stsc, chunks, samples)
}

// sttsDuration sums the sample durations of an stts box. ffmpeg caps the
// track's duration to the sum; a single entry of duration 1 makes it read
// the track as raw chunks, not parsed here.
func sttsDuration(b []byte) (uint64, bool) {
	if len(b) < 8 {
		return 0, false
	}
	n := uint64(binary.BigEndian.Uint32(b[4:]))
	if n == 0 || n > uint64(len(b)-8)/8 {
		return 0, false
	}
	var sum uint64
	for i := range n {
		count, delta := binary.BigEndian.Uint32(b[8+8*i:]), binary.BigEndian.Uint32(b[12+8*i:])
		if delta > math.MaxInt32 || (n == 1 && delta == 1) {
			return 0, false
		}
		sum += uint64(count) * uint64(delta) // < 2^63 each, at most 2^29 of them: no overflow
		if sum > math.MaxInt64 {
			return 0, false
		}
	}
	return sum, true
}

// chunksHold says whether the chunks that stsc describes hold no more
// samples than stsz counts: more, and ffmpeg stops building the index
// before it applies the edit list. Entries must be as ffmpeg takes them
// without repair: first chunks rising from 1, each with samples, all of
// the one sample description.
func chunksHold(stsc []byte, chunks, samples uint32) bool {
	if len(stsc) < 8 {
		return false
	}
	n := uint64(binary.BigEndian.Uint32(stsc[4:]))
	if n == 0 || n > uint64(len(stsc)-8)/12 {
		return false
	}
	var held uint64
	for i := range n {
		e := stsc[8+12*i:]
		first, per, desc := binary.BigEndian.Uint32(e), binary.BigEndian.Uint32(e[4:]), binary.BigEndian.Uint32(e[8:])
		last := chunks
		if i+1 < n {
			last = binary.BigEndian.Uint32(e[12:]) - 1
		}
		if (i == 0 && first != 1) || first > last+1 || last > chunks || per == 0 || per > math.MaxInt32 || desc != 1 {
			return false
		}
		held += uint64(last-first+1) * uint64(per)
		if held > uint64(samples) {
			return false
		}
	}
	return true
}

// seconds is the track's duration as ffprobe reports it: mdhd's, capped to
// the samples' (stts), and to the total of the edit list's edits,
// converted from the movie's timescale edit by edit, empty edits
// included (ffmpeg's mov_fix_index). An MP4 from ffmpeg has an edit that
// skips the AAC encoder's priming: the duration is mdhd's less 1024
// samples and the padding of the last frame; audio that starts late has
// an empty edit first, and its duration is its samples'.
func (t *mp4Track) seconds(movieScale uint32) (float64, bool) {
	d := t.duration
	if t.sttsSum > 0 {
		d = min(d, t.sttsSum)
	}
	if t.elst != nil {
		edits, n, ok := editsDuration(t.elst, uint64(t.timescale), uint64(movieScale))
		if !ok {
			return 0, false
		}
		if n > 0 {
			d = min(d, edits)
		}
	}
	// 0: ffprobe gives no stream duration, and Probe the file's.
	return float64(d) / float64(t.timescale), d > 0
}

// editsDuration sums the durations of an elst's n edits, in the track's
// timescale. Edits must play at normal rate and start at a media time or
// be empty (-1).
func editsDuration(b []byte, trackScale, movieScale uint64) (sum uint64, n int, ok bool) {
	if len(b) < 8 || b[0] > 1 {
		return 0, 0, false
	}
	size := 12 + 8*int(b[0])
	count := uint64(binary.BigEndian.Uint32(b[4:]))
	if count > uint64(len(b)-8)/uint64(size) {
		return 0, 0, false
	}
	for e := b[8 : 8+int(count)*size]; len(e) > 0; e = e[size:] {
		var dur uint64
		var media int64
		if b[0] == 1 {
			dur, media = binary.BigEndian.Uint64(e), int64(binary.BigEndian.Uint64(e[8:]))
		} else {
			dur, media = uint64(binary.BigEndian.Uint32(e)), int64(int32(binary.BigEndian.Uint32(e[4:])))
		}
		if media < -1 || dur > math.MaxInt64 || binary.BigEndian.Uint32(e[size-4:]) != 0x10000 {
			return 0, 0, false
		}
		d, ok := rescale(dur, trackScale, movieScale)
		if !ok || d > math.MaxInt64-sum {
			return 0, 0, false
		}
		sum += d
	}
	return sum, int(count), true
}

// soundEntry reads an audio sample entry: the codec as ffprobe names it,
// and the sample rate. The entry's fixed fields (ISO 14496-12 and
// QuickTime's sound description versions 0 to 2) precede child boxes with
// the codec's configuration, which QuickTime may wrap in a wave box.
func soundEntry(typ string, e []byte) (codec string, rate int, ok bool) {
	if len(e) < 28 {
		return "", 0, false
	}
	rate, kids := int(binary.BigEndian.Uint32(e[24:])>>16), e[28:]
	switch binary.BigEndian.Uint16(e[8:]) {
	case 0:
	case 1:
		if len(e) < 44 {
			return "", 0, false
		}
		kids = e[44:]
	case 2:
		if len(e) < 64 {
			return "", 0, false
		}
		f := math.Float64frombits(binary.BigEndian.Uint64(e[32:]))
		if !(f >= 1 && f <= math.MaxInt32) {
			return "", 0, false
		}
		rate, kids = int(f), e[64:]
	default:
		return "", 0, false
	}
	cfg, ok := entryConfig(kids)
	if !ok || (cfg.esds != nil) != (typ == "mp4a") {
		return "", 0, false
	}
	codec, rate, ok = soundCodec(typ, rate, cfg)
	return codec, rate, ok && rate > 0
}

// soundConfig holds the configuration boxes of an audio sample entry.
type soundConfig struct {
	esds, dfLa, alac []byte
}

// entryConfig finds an audio sample entry's configuration boxes, among
// its children or in their wave box.
func entryConfig(kids []byte) (cfg soundConfig, ok bool) {
	var wave []byte
	found, ok := children(kids, "esds", "dfLa", "alac", "wave", "sinf")
	if !ok || found[4] != nil { // sinf: encrypted
		return cfg, false
	}
	cfg, wave = soundConfig{esds: found[0], dfLa: found[1], alac: found[2]}, found[3]
	if wave != nil {
		in, ok := children(wave, "esds", "alac")
		if !ok || (in[0] != nil && cfg.esds != nil) || (in[1] != nil && cfg.alac != nil) {
			return cfg, false
		}
		cfg.esds, cfg.alac = cmpOr(cfg.esds, in[0]), cmpOr(cfg.alac, in[1])
	}
	return cfg, true
}

func cmpOr(a, b []byte) []byte {
	if a != nil {
		return a
	}
	return b
}

// soundCodec names an audio sample entry's codec as ffprobe does, and
// gives the rate its decoder reports where the configuration says it.
func soundCodec(typ string, rate int, cfg soundConfig) (string, int, bool) {
	switch typ {
	case "mp4a":
		return esdsCodec(cfg.esds, rate)
	case ".mp3", "ms\x00\x55":
		// The container's word: ffmpeg does not parse MPEG audio frames
		// here, and names Layer II in a .mp3 entry mp3 too.
		return "mp3", rate, true
	case ".mp2", "ms\x00\x50":
		return "mp2", rate, true
	case "Opus":
		return "opus", 48000, true // Opus always decodes at 48 kHz
	// The decoders of FLAC and ALAC take the rate from their configuration;
	// a rate past 16 bits leaves the entry's 0.
	case "fLaC":
		r, ok := 0, len(cfg.dfLa) > 4
		if ok {
			r, ok = flacRate(cfg.dfLa[4:])
		}
		return "flac", r, ok && (rate == 0 || rate == r)
	case "alac":
		// ALACSpecificConfig, after version and flags: its rate is last.
		if len(cfg.alac) < 28 {
			return "", 0, false
		}
		r := int(binary.BigEndian.Uint32(cfg.alac[24:]))
		return "alac", r, r <= math.MaxInt32 && (rate == 0 || rate == r)
	case "ac-3":
		return "ac3", rate, true
	case "ec-3":
		return "eac3", rate, true
	case "enca": // encrypted: ffmpeg names the codec inside
		return "", 0, false
	}
	name, ok := fourccName(typ)
	return name, rate, ok
}

// esdsCodec reads an esds box (ISO 14496-1 ES_Descriptor) as ffmpeg's
// ff_mov_read_esds does: the DecoderConfigDescriptor's object type names
// the codec, and for AAC the AudioSpecificConfig gives the rate.
func esdsCodec(b []byte, rate int) (string, int, bool) {
	if len(b) < 4 {
		return "", 0, false
	}
	es, ok := descriptor(b[4:], 3)
	if !ok || len(es) < 3 {
		return "", 0, false
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
		return "", 0, false
	}
	dc, ok := descriptor(es[skip:], 4)
	if !ok || len(dc) < 13 {
		return "", 0, false
	}
	switch dc[0] {
	case 0x40, 0x66, 0x67, 0x68:
		asc, ok := descriptor(dc[13:], 5)
		if !ok {
			return "", 0, false
		}
		rate, ok = aacRate(asc)
		return "aac", rate, ok
	case 0x69, 0x6B: // MPEG-2 and MPEG-1 audio: ffmpeg says mp3 for layer II too
		return "mp3", rate, true
	case 0xA5:
		return "ac3", rate, true
	case 0xA6:
		return "eac3", rate, true
	case 0xAD:
		return "opus", 48000, true
	}
	return "", 0, false
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
