package mp4

import (
	"math"
	"slices"
)

// track is what Probe needs of a trak.
type track struct {
	handler   string // the media handler: vide, soun, ...
	timescale uint32 // mdhd's
	duration  uint64 // mdhd's, in timescale
	elst      []byte // the edit list's payload, if any
	codec     string // an audio track's, as ffprobe names it
	rate      int    // an audio track's, in Hz
	sttsSum   uint64 // the samples' durations summed, in timescale
	// even: every sample but the last lasts as long by stts, stts times
	// every sample stsz counts, and mdhd's duration is their sum.
	even bool
}

// refused are the boxes that fail a walk below a trak: tags, which ffmpeg
// would read, and a nested trak.
func refused(typ string) bool { return tagBox(typ) || typ == "trak" }

func readTrak(b []byte) (track, bool) {
	var t track
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

// sampleTable holds the payloads of a stbl's boxes that matter.
type sampleTable struct {
	stsd, stts, stsc, stsz, stco []byte
	ctts, cslg                   []byte // composition offsets: a dts shift
}

func (t *track) readMdia(b []byte) bool {
	var mdhd, hdlr, minf []byte
	if !collect(b, map[string]*[]byte{"mdhd": &mdhd, "hdlr": &hdlr, "minf": &minf}, refused) ||
		mdhd == nil || minf == nil || !t.readMdhd(mdhd) {
		return false
	}
	var ok bool
	if t.handler, ok = handlerType(hdlr); !ok {
		return false
	}
	var dataHdlr, stbl []byte
	if !collect(minf, map[string]*[]byte{"hdlr": &dataHdlr, "stbl": &stbl}, refused) || stbl == nil {
		return false
	}
	// QuickTime's data handler has a subtype too, and ffmpeg would take a
	// media type from it.
	if dataHdlr != nil {
		if typ, ok := handlerType(dataHdlr); !ok || slices.Contains(mediaHandlers, typ) {
			return false
		}
	}
	var st sampleTable
	if !collect(stbl, map[string]*[]byte{"stsd": &st.stsd, "stts": &st.stts, "stsc": &st.stsc,
		"stsz": &st.stsz, "stz2": &st.stsz, "stco": &st.stco, "co64": &st.stco, "ctts": &st.ctts, "cslg": &st.cslg}, refused) {
		return false
	}
	switch t.handler {
	case "vide":
		return true
	case "soun":
		return t.readSound(st)
	}
	return notSound(st.stsd)
}

func (t *track) readMdhd(b []byte) bool {
	h, ok := parseMdhd(b)
	if !ok || h.unknown {
		return false
	}
	t.timescale, t.duration = h.timescale, h.duration
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
	n, ok := stsdEntries(stsd)
	if !ok {
		return false
	}
	switch n {
	case 0:
		return true
	case 1:
		typ, _, ok := firstEntry(stsd)
		return ok && slices.Contains(notAudio, typ)
	}
	return false
}

// readSound reads an audio track's codec and timing. The track must have
// one sample description and a consistent index: ffmpeg skips the edit
// list of a track whose index it cannot build, which changes its
// duration.
func (t *track) readSound(st sampleTable) bool {
	if n, ok := stsdEntries(st.stsd); !ok || n != 1 || st.ctts != nil || st.cslg != nil {
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
	samples, ok1 := stszSamples(st.stsz)
	chunks, ok2 := stcoChunks(st.stco)
	if !ok1 || !ok2 {
		return false
	}
	t.even = sttsEven(st.stts, samples) && t.duration == t.sttsSum
	return samples > 0 && samples < 1<<28 && chunks > 0 && chunksHold(st.stsc, chunks, samples)
}

// sttsEven says whether stts gives all of samples the same duration but
// the last, which may be shorter. A decoder outputs a frame's samples
// whatever its duration says, while a seek goes by the durations: where a
// packet lasts longer or shorter than its samples (two tracks joined, an
// edited file), or the table times fewer samples than the file holds, a
// lane would start where the decoder's count says something else.
func sttsEven(b []byte, samples uint32) bool {
	tab := sttsTable(b)
	n := tab.entries()
	var counted, delta uint64
	for i := range n {
		c, d := sttsEntry(tab.entry(i))
		switch {
		case c == 0:
			continue
		case delta == 0:
			delta = uint64(d)
		case uint64(d) != delta && !(i == n-1 && c == 1 && uint64(d) < delta):
			return false
		}
		counted += uint64(c)
	}
	return delta > 0 && counted == uint64(samples)
}

// sttsDuration sums the sample durations of an stts box. ffmpeg caps the
// track's duration to the sum; a single entry of duration 1 makes it read
// the track as raw chunks, not parsed here.
func sttsDuration(b []byte) (uint64, bool) {
	tab := sttsTable(b)
	n := tab.entries()
	if n <= 0 {
		return 0, false
	}
	var sum uint64
	for i := range n {
		count, delta := sttsEntry(tab.entry(i))
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
	tab := stscTable(stsc)
	n := tab.entries()
	if n <= 0 {
		return false
	}
	var held uint64
	for i := range n {
		first, per, desc := stscEntry(tab.entry(i))
		last := chunks
		if i+1 < n {
			next, _, _ := stscEntry(tab.entry(i + 1))
			last = next - 1
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
func (t *track) seconds(movieScale uint32) (float64, bool) {
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
	tab, version, ok := elstTable(b)
	if !ok {
		return 0, 0, false
	}
	n = tab.entries()
	if n < 0 {
		return 0, 0, false
	}
	for i := range n {
		e := elstEntry(tab.entry(i), version)
		if e.mediaTime < -1 || e.duration > math.MaxInt64 || e.rate != 0x10000 {
			return 0, 0, false
		}
		d, ok := rescale(e.duration, trackScale, movieScale)
		if !ok || d > math.MaxInt64-sum {
			return 0, 0, false
		}
		sum += d
	}
	return sum, n, true
}
