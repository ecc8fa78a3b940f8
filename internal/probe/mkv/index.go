package mkv

import (
	"io"
	"sort"

	"github.com/mp3converter/mp3converter/internal/probe/codec"
)

// Index lists the blocks of a Matroska file's first audio track, each
// with the samples ffmpeg decodes from it, so that a lane of a parallel
// encode can be given the blocks from any point on (Excerpt) and know
// which sample of the whole decode its audio starts on. Matroska times
// blocks in milliseconds, which cannot say that: measured, ffmpeg's -ss
// in a 48 kHz Opus file lands up to 400 samples off. Only what it is sure
// of is indexed: unlaced blocks of Opus, Vorbis, AAC LC or MPEG audio,
// each counted as the decoder counts it (frames.go); anything else, or
// anything odd, is no Index.
type Index struct {
	r        io.ReaderAt
	in       io.ReaderAt // r, or the Cluster being indexed, read at once
	buf      []byte      // holds the Cluster read at once, reused
	size     int64
	codec    *counter
	track    uint64
	scale    uint64  // TimestampScale
	entry    []byte  // the audio TrackEntry's data
	clusters []int64 // each Cluster's Timestamp
	blocks   []block
	trimmed  bool // a block trims its end (DiscardPadding): it must be the last
}

// block is one audio SimpleBlock or BlockGroup.
type block struct {
	pos     int64 // the element's, header included
	size    int64 // the element's, header included
	cluster int   // in Index.clusters
	start   int64 // samples the blocks before it decode to, at the decoder
}

// maxClusterRead is the largest Cluster read at once to be indexed, as
// an audio file's are (5 s of audio); a film's are walked in place.
const maxClusterRead = 1 << 20

// memAt is a part of the file held in memory, from base on.
type memAt struct {
	b    []byte
	base int64
}

func (m memAt) ReadAt(p []byte, off int64) (int, error) {
	if off < m.base || off-m.base > int64(len(m.b)) {
		return 0, io.EOF
	}
	n := copy(p, m.b[off-m.base:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// maxBlocks bounds an Index's memory (32 bytes a block: 64 MiB): 4 hours
// of Opus in 20 ms packets is 720,000 blocks, and a file of 2.5 ms ones,
// which an upload may be, takes the decoder's path rather than more.
var maxBlocks = 1 << 21 // a variable for TestIndexRefuses

// maxBlockRead bounds the bytes read of one block to count it: an MPEG
// audio block, read whole, holds a frame or a few.
const maxBlockRead = 64 << 10

// NewIndex indexes the Matroska file in r, size bytes long; false means
// not sure.
func NewIndex(r io.ReaderAt, size int64) (*Index, bool) {
	s, ok := readSegment(r, size, true)
	if !ok || s.audio == 0 || s.track.encoded || s.track.number == 0 {
		return nil, false
	}
	c, ok := newCounter(&s.track)
	if !ok {
		return nil, false
	}
	ix := &Index{r: r, size: size, codec: c, track: s.track.number, scale: s.scale, entry: s.track.entry}
	for off := s.start; off < s.end; {
		id, data, n, ok := elementAt(r, off, s.end)
		if !ok || (id == idCluster && !ix.cluster(data, data+n)) {
			return nil, false
		}
		off = data + n
	}
	ix.in, ix.buf = nil, nil // indexed: the Cluster read last is garbage
	if len(ix.blocks) < 2 {
		return nil, false
	}
	return ix, true
}

// Rate is the rate the audio decodes at.
func (ix *Index) Rate() int { return ix.codec.rate }

// cluster indexes the audio blocks of the Cluster whose data runs from off
// to end. Its Timestamp must come before them.
func (ix *Index) cluster(off, end int64) bool {
	ix.in = ix.r
	if n := end - off; n <= maxClusterRead {
		if int64(cap(ix.buf)) < n {
			ix.buf = make([]byte, n)
		}
		b := ix.buf[:n]
		if m, _ := ix.r.ReadAt(b, off); int64(m) < n {
			return false
		}
		ix.in = memAt{b: b, base: off}
	}
	timed := false
	for off < end {
		id, data, n, ok := ix.element(off, end)
		if !ok {
			return false
		}
		switch id {
		case idTimestamp:
			b, ok := ix.at(data, n, end)
			if !ok || timed {
				return false
			}
			ts, ok := ebmlUint(b)
			if !ok || ts > 1<<62 {
				return false
			}
			ix.clusters, timed = append(ix.clusters, int64(ts)), true
		case idSimpleBlock, idBlockGroup:
			if !timed || !ix.block(id == idBlockGroup, off, data, n) {
				return false
			}
		}
		off = data + n
	}
	return true
}

// at returns the n bytes at off, or false if the part being indexed,
// which ends at end, does not hold them: in the Cluster read at once, the
// bytes themselves, which the next Cluster overwrites.
func (ix *Index) at(off, n, end int64) ([]byte, bool) {
	if m, ok := ix.in.(memAt); ok && off >= m.base && n >= 0 && off+n <= min(end, m.base+int64(len(m.b))) {
		return m.b[off-m.base : off-m.base+n], true
	}
	return codec.ReadAt(ix.in, off, n, end)
}

// element is elementAt in the part being indexed: in the Cluster read at
// once, without a copy.
func (ix *Index) element(off, end int64) (id uint32, data, size int64, ok bool) {
	if m, ok := ix.in.(memAt); ok && off >= m.base && off < end && end <= m.base+int64(len(m.b)) {
		return element(m.b[off-m.base:min(off+12, end)-m.base], off, end)
	}
	return elementAt(ix.in, off, end)
}

// block indexes the block element at pos, whose data is n bytes at data,
// if it is the audio track's.
func (ix *Index) block(group bool, pos, data, n int64) bool {
	trims, end := false, data+n
	if group {
		var ok bool
		if data, n, trims, ok = ix.groupBlock(data, data+n); !ok {
			return false
		}
	}
	b, ok := ix.at(data, min(n, maxBlockRead), data+n)
	if !ok {
		return false
	}
	track, k, ok := ebmlSize(b)
	if !ok || len(b) < k+3 {
		return false
	}
	if track != ix.track {
		return true
	}
	if b[k+2]&0x06 != 0 || ix.trimmed || (ix.codec.whole && n > maxBlockRead) || len(ix.blocks) == maxBlocks {
		return false // laced, after a trimmed block, too big to count, or too many
	}
	samples, ok := ix.codec.count(b[k+3:])
	if !ok {
		return false
	}
	ix.trimmed = trims
	start := int64(0)
	if m := len(ix.blocks); m > 0 {
		start = ix.blocks[m-1].start + ix.codec.last
	}
	ix.codec.last = int64(samples)
	ix.blocks = append(ix.blocks, block{pos: pos, size: end - pos, cluster: len(ix.clusters) - 1, start: start})
	return true
}

// groupBlock returns where the Block of the BlockGroup whose data runs
// from off to end is, and whether a DiscardPadding trims it.
func (ix *Index) groupBlock(off, end int64) (data, n int64, trims, ok bool) {
	for off < end {
		id, d, size, ok := ix.element(off, end)
		if !ok {
			return 0, 0, false, false
		}
		switch id {
		case idBlock:
			data, n = d, size
		case idDiscardPadding: // ffmpeg writes 0 for no padding
			b, ok := ix.at(d, size, end)
			v, ok2 := ebmlUint(b)
			if !ok || !ok2 {
				return 0, 0, false, false
			}
			trims = v != 0
		}
		off = d + size
	}
	return data, n, trims, n > 0
}

// start returns the last block a lane may start on to decode sample at of
// the whole decode after warm samples: its index, and the sample of the
// whole decode its first output is; false if there is none.
func (ix *Index) start(at int64) (int, int64, bool) {
	c := ix.codec
	want := at + c.skip - c.warm
	i := sort.Search(len(ix.blocks), func(i int) bool { return ix.blocks[i].start > want }) - 1
	if i < 1 {
		return 0, 0, false // the first block is the decoder's start, not a lane's
	}
	first := ix.blocks[i].start + c.laneSkip(ix, i) - c.skip
	return i, first, first <= at
}

// end returns the block after the last a lane needs to decode sample to,
// with margin blocks after it; len(blocks) for all.
func (ix *Index) end(to int64) int {
	if to < 0 {
		return len(ix.blocks)
	}
	want := to + ix.codec.skip
	i := sort.Search(len(ix.blocks), func(i int) bool { return ix.blocks[i].start > want })
	return min(i+endMargin, len(ix.blocks))
}

// endMargin is the blocks a lane is given past the last sample it needs:
// a decoder may hold one back.
const endMargin = 4
