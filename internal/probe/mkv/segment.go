// Package mkv reads Matroska and WebM as ffmpeg's matroska demuxer
// (libavformat/matroskadec.c) reads them: the EBML header, then the
// segment's level-1 elements up to the first Cluster, then those the
// SeekHead points to (a muxer writes Tags, and often Cues, after the
// Clusters). ffprobe gives no stream duration for Matroska: the duration
// is Info's. ebml.go walks elements and reads their values; segment.go,
// track.go and tags.go hold the rules that turn them into ffprobe's
// answer, or into "not sure".
package mkv

import (
	"io"
	"math"
	"strings"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/internal/probe/codec"
)

// Format is ffprobe's format_name for the files read here.
const Format = "matroska,webm"

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

// Probe probes the Matroska or WebM file in r, size bytes long; false
// means not sure. The title is as the file holds it.
func Probe(r io.ReaderAt, size int64) (*mp3converter.MediaInfo, bool) {
	s, ok := readSegment(r, size, false)
	if !ok {
		return nil, false
	}
	return s.info()
}

// readSegment reads the headers of the Matroska file in r: the EBML
// header, then the Segment's level-1 elements but Clusters and Cues.
func readSegment(r io.ReaderAt, size int64, indexing bool) (*segment, bool) {
	id, data, n, ok := elementAt(r, 0, size)
	if !ok || id != idEBML || n > maxEBMLHeader {
		return nil, false
	}
	head, ok := codec.ReadAt(r, data, n, size)
	if !ok || !ebmlHeaderOK(head) {
		return nil, false
	}
	id, data, n, ok = elementAt(r, data+n, size)
	if !ok || id != idSegment {
		return nil, false
	}
	s := &segment{r: r, start: data, end: data + n, indexing: indexing}
	if !s.scan() || !s.followSeeks() {
		return nil, false
	}
	return s, true
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
			docType = codec.CString(it.data)
		}
		if !ok {
			return false
		}
	}
	return !it.bad && (docType == "matroska" || docType == "webm") &&
		readVersion <= 1 && maxID <= 4 && maxSize <= 8 && docRead <= 3
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

	audio    int      // audio tracks
	codec    string   // the first one's, as ffprobe names it
	rate     int      // the first one's, in Hz
	mp3      bool     // an audio track is MP3
	track    mkvTrack // the first audio track
	scale    uint64   // TimestampScale, in nanoseconds
	indexing bool     // for Index: a codec Probe is not sure of is no failure
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
	b, ok := codec.ReadAt(s.r, data, size, s.end)
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
	return &mp3converter.MediaInfo{Format: Format, AudioCodec: s.codec, SampleRate: s.rate,
		Duration: s.duration, Title: title}, true
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
			s.infoTitle = codec.CString(it.data)
		}
		if !ok {
			return false
		}
	}
	if scale == 0 {
		scale = 1000000
	}
	s.scale = scale
	us := dur * float64(scale) * 1000 / 1e6
	if it.bad || !(us >= 1 && us < codec.MaxSeconds*1e6) {
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
		if s.audio == 0 {
			s.track = t // before t.codec: Index reads what Probe leaves to ffprobe
		}
		codec, rate, ok := t.codec()
		if !ok && !s.indexing {
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
