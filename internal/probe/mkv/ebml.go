package mkv

import (
	"encoding/binary"
	"io"
	"math"
	"math/bits"
)

// The structure of EBML (RFC 8794) as Matroska uses it: element IDs and
// sizes, elements in a file and in memory, and their values. Nothing here
// decides what a file means.

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
	idTrackNumber             = 0xD7
	idCodecDelay              = 0x56AA
	idTimestamp               = 0xE7
	idSimpleBlock             = 0xA3
	idBlockGroup              = 0xA0
	idBlock                   = 0xA1
	idDiscardPadding          = 0x75A2
	idDocTypeVersion          = 0x4287
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
	return element(b[:m], off, end)
}

// element parses the header of the element at off, which must end by end,
// from b, which holds its first bytes: as elementAt.
func element(b []byte, off, end int64) (id uint32, data, size int64, ok bool) {
	m := len(b)
	id, i, ok := ebmlID(b)
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
