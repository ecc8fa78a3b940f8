package mkv

import (
	"io"
)

// Excerpt returns the audio track from a block at least a decoder's
// warm-up before sample from of the whole decode up to a few blocks past
// sample to (-1: to the end), as a Matroska stream of its own for ffmpeg
// to read from its start, and how many samples that decodes to before
// sample from; false if no block fits. The stream is the track's blocks
// unchanged, in Clusters of their own Timestamps, after a header with
// that track alone: ffmpeg decodes them as it would from the file, but
// starting where it is told, without a seek, so that the samples are
// counted, not timed.
func (ix *Index) Excerpt(from, to int64) (r io.Reader, skip int64, ok bool) {
	i, first, ok := ix.start(from)
	if !ok {
		return nil, 0, false
	}
	return &excerpt{ix: ix, next: i, end: ix.end(to), buf: ix.head()}, from - first, true
}

// excerpt reads one Excerpt, a Cluster at a time.
type excerpt struct {
	ix        *Index
	next, end int // the blocks still to write
	buf       []byte
}

func (x *excerpt) Read(p []byte) (int, error) {
	for len(x.buf) == 0 {
		if x.next >= x.end {
			return 0, io.EOF
		}
		var err error
		if x.buf, err = x.cluster(); err != nil {
			return 0, err
		}
	}
	n := copy(p, x.buf)
	x.buf = x.buf[n:]
	return n, nil
}

// cluster returns the next blocks of one Cluster as a Cluster, each run
// of blocks that lie together in the file read at once.
func (x *excerpt) cluster() ([]byte, error) {
	ix := x.ix
	c := ix.blocks[x.next].cluster
	body := putUint(nil, idTimestamp, uint64(ix.clusters[c]))
	for x.next < x.end && ix.blocks[x.next].cluster == c {
		from, to := ix.blocks[x.next].pos, ix.blocks[x.next].pos+ix.blocks[x.next].size
		for x.next++; x.next < x.end && ix.blocks[x.next].cluster == c && ix.blocks[x.next].pos == to; x.next++ {
			to += ix.blocks[x.next].size
		}
		n := len(body)
		body = append(body, make([]byte, to-from)...)
		if _, err := ix.r.ReadAt(body[n:], from); err != nil {
			return nil, err
		}
	}
	return putElement(nil, idCluster, body), nil
}

// head is what an excerpt starts with: an EBML header, a Segment of
// unknown size, an Info with the file's TimestampScale, and Tracks with
// the audio track's TrackEntry but its CodecDelay, which the demuxer would
// drop again at a start on timestamp 0.
func (ix *Index) head() []byte {
	ebml := putElement(nil, idDocType, []byte("matroska"))
	ebml = putUint(ebml, idDocTypeVersion, 4)
	ebml = putUint(ebml, idDocTypeReadVersion, 2)
	b := putElement(nil, idEBML, ebml)
	b = append(putID(b, idSegment), 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	b = putElement(b, idInfo, putUint(nil, idTimestampScale, ix.scale))
	var entry []byte
	it := ebmlIter{rest: ix.entry}
	for it.next() {
		if it.id != idCodecDelay {
			entry = putElement(entry, it.id, it.data)
		}
	}
	return putElement(b, idTracks, putElement(nil, idTrackEntry, entry))
}

// putID appends an element ID.
func putID(b []byte, id uint32) []byte {
	n := 1
	for id>>(8*n) != 0 {
		n++
	}
	for i := n - 1; i >= 0; i-- {
		b = append(b, byte(id>>(8*i)))
	}
	return b
}

// putElement appends an element, its size in eight bytes.
func putElement(b []byte, id uint32, data []byte) []byte {
	b = putID(b, id)
	n := uint64(len(data))
	b = append(b, 0x01, byte(n>>48), byte(n>>40), byte(n>>32), byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	return append(b, data...)
}

// putUint appends an unsigned integer element.
func putUint(b []byte, id uint32, v uint64) []byte {
	var d [8]byte
	for i := range d {
		d[i] = byte(v >> (56 - 8*i))
	}
	return putElement(b, id, d[:])
}
