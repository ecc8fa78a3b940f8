package ffmpeg

import (
	"errors"
	"fmt"
)

// The bit reservoir. LAME lets a frame's main data begin up to 511 bytes
// (255 for MPEG-2) before the frame, in the unused end of the frames
// before it: a frame of an encode cannot simply follow a frame of another.
// So the frames of each encode are unpacked (their main data taken out of
// the reservoir), and the frames chosen are packed again: each frame's data
// as early as the reservoir allows, which is never later than LAME placed
// it once the reservoir holds as much as LAME's did (see splice).

// mainFrame is a frame with its main data out of the reservoir.
type mainFrame struct {
	head  []byte // header and side information, as LAME wrote them
	main  []byte
	begin int // main_data_begin as LAME wrote it
	h     frameHeader
}

var errNoRoom = errors.New("main data does not fit the frame")

// unpacker takes the main data of one encode's frames out of the reservoir.
type unpacker struct {
	res []byte // the last data areas read
}

// unpack returns frame's main data, gathered from the reservoir.
func (u *unpacker) unpack(frame []byte, h frameHeader) (mainFrame, error) {
	if protected(frame) {
		return mainFrame{}, errors.New("frame with a CRC")
	}
	ds := h.dataStart(frame)
	begin, size := h.mainData(frame)
	area := frame[ds:]
	u.res = append(u.res, area...)
	start := len(u.res) - len(area) - begin
	if start < 0 || size > begin+len(area) {
		return mainFrame{}, fmt.Errorf("main data of %d bytes from %d back is out of reach", size, begin)
	}
	buf := make([]byte, ds+size)
	copy(buf, frame[:ds])
	copy(buf[ds:], u.res[start:start+size])
	if len(u.res) > 8<<10 {
		u.res = append(u.res[:0], u.res[len(u.res)-1024:]...)
	}
	return mainFrame{head: buf[:ds:ds], main: buf[ds:], begin: begin, h: h}, nil
}

// room is the size of f's data area.
func (f mainFrame) room() int { return f.h.size - len(f.head) }

// afterLayout returns the free reservoir bytes after frames are packed
// onto a reservoir of free bytes, as the packer packs them (bumping a
// frame that does not fit), or -1 if one does not fit at any bitrate.
func afterLayout(free int, frames []mainFrame) int {
	for _, f := range frames {
		begin := min(free, f.h.maxBack())
		room := f.room()
		if len(f.main) > begin+room {
			h, err := bump(append([]byte(nil), f.head[:4]...), len(f.head)+len(f.main)-begin)
			if err != nil {
				return -1
			}
			room = h.size - len(f.head)
		}
		free = begin + room - len(f.main)
	}
	return free
}

// packer lays frames' main data out again and hands on each frame once no
// later frame's data can reach into it.
type packer struct {
	emit    func(frame []byte) error
	pending [][]byte // frames whose data areas may still change: their heads
	sizes   []int    // and the sizes of their areas
	area    []byte   // the pending frames' data areas, one after the other
	used    int      // bytes of area holding data; the rest is free
	maxBack int
	bumped  int // frames given a higher bitrate, for data that did not fit
	buf     []byte
}

func (p *packer) free() int { return len(p.area) - p.used }

// add packs f, leaving at least reserve bytes free after it. A frame
// whose data does not fit, or that leaves less, which splice avoids, gets
// the lowest higher bitrate that does; if none does, the highest.
func (p *packer) add(f mainFrame, reserve int) error {
	h, head := f.h, append([]byte(nil), f.head...)
	p.maxBack = h.maxBack()
	begin := min(p.free(), p.maxBack, len(p.area))
	if need := len(head) + len(f.main) - begin; need+reserve > h.size {
		bigger, err := bump(head, need+reserve)
		if err != nil && need > h.size {
			bigger, err = bump(head, need)
		}
		if err == nil {
			h = bigger
			p.bumped++
		} else if need > h.size {
			return err
		}
	}
	h.setMainDataBegin(head, begin)
	start := len(p.area) - begin
	p.area = append(p.area, make([]byte, h.size-len(head))...)
	copy(p.area[start:], f.main)
	p.used = start + len(f.main)
	p.pending = append(p.pending, head)
	p.sizes = append(p.sizes, h.size-len(head))
	return p.flush(false)
}

// bump raises the bitrate index in head to the lowest whose frame is at
// least size bytes, and returns the new header; or leaves head as it was.
func bump(head []byte, size int) (frameHeader, error) {
	was := head[2]
	for i := int(head[2]>>4) + 1; i < 15; i++ {
		head[2] = head[2]&0x0F | byte(i)<<4
		if h, err := parseFrameHeader(head); err == nil && h.size >= size {
			return h, nil
		}
	}
	head[2] = was
	return frameHeader{}, errNoRoom
}

// flush hands on the pending frames that no later frame's data can reach,
// or all of them.
func (p *packer) flush(all bool) error {
	reach := max(p.used, len(p.area)-p.maxBack)
	off, n := 0, 0
	for ; n < len(p.pending); n++ {
		size := p.sizes[n]
		if !all && off+size > reach {
			break
		}
		p.buf = append(append(p.buf[:0], p.pending[n]...), p.area[off:off+size]...)
		if err := p.emit(p.buf); err != nil {
			return err
		}
		off += size
	}
	p.pending = append(p.pending[:0], p.pending[n:]...)
	p.sizes = append(p.sizes[:0], p.sizes[n:]...)
	p.area = append(p.area[:0], p.area[off:]...)
	p.used = max(p.used-off, 0)
	return nil
}
