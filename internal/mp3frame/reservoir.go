package mp3frame

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
// it once the reservoir holds as much as LAME's did (see the parallel encoder's splice).

// Frame is a frame with its main data out of the reservoir.
type Frame struct {
	Head   []byte // header and side information, as LAME wrote them
	Main   []byte
	Begin  int // main_data_begin as LAME wrote it
	Header Header
}

var errNoRoom = errors.New("main data does not fit the frame")

// Unpacker takes the main data of one encode's frames out of the reservoir.
type Unpacker struct {
	res []byte // the last data areas read
}

// Unpack returns frame's main data, gathered from the reservoir.
func (u *Unpacker) Unpack(frame []byte, h Header) (Frame, error) {
	if protected(frame) {
		return Frame{}, errors.New("frame with a CRC")
	}
	ds := h.DataStart(frame)
	begin, size := h.MainData(frame)
	area := frame[ds:]
	u.res = append(u.res, area...)
	start := len(u.res) - len(area) - begin
	if start < 0 || size > begin+len(area) {
		return Frame{}, fmt.Errorf("main data of %d bytes from %d back is out of reach", size, begin)
	}
	buf := make([]byte, ds+size)
	copy(buf, frame[:ds])
	copy(buf[ds:], u.res[start:start+size])
	if len(u.res) > 8<<10 {
		u.res = append(u.res[:0], u.res[len(u.res)-1024:]...)
	}
	return Frame{Head: buf[:ds:ds], Main: buf[ds:], Begin: begin, Header: h}, nil
}

// Room is the size of f's data area.
func (f Frame) Room() int { return f.Header.Size - len(f.Head) }

// AfterLayout returns the free reservoir bytes after frames are packed
// onto a reservoir of free bytes, as the Packer packs them (bumping a
// frame that does not fit), or -1 if one does not fit at any bitrate.
func AfterLayout(free int, frames []Frame) int {
	for _, f := range frames {
		begin := min(free, f.Header.MaxBack())
		room := f.Room()
		if len(f.Main) > begin+room {
			h, err := bump(append([]byte(nil), f.Head[:4]...), len(f.Head)+len(f.Main)-begin)
			if err != nil {
				return -1
			}
			room = h.Size - len(f.Head)
		}
		free = begin + room - len(f.Main)
	}
	return free
}

// Packer lays frames' main data out again and hands on each frame once no
// later frame's data can reach into it.
type Packer struct {
	Emit    func(frame []byte) error
	pending [][]byte // frames whose data areas may still change: their heads
	sizes   []int    // and the sizes of their areas
	area    []byte   // the pending frames' data areas, one after the other
	used    int      // bytes of area holding data; the rest is free
	maxBack int
	Bumped  int // frames given a higher bitrate, for data that did not fit
	buf     []byte
}

func (p *Packer) Free() int { return len(p.area) - p.used }

// Add packs f, leaving at least reserve bytes free after it. A frame
// whose data does not fit, or that leaves less, which a join avoids, gets
// the lowest higher bitrate that does; if none does, the highest.
func (p *Packer) Add(f Frame, reserve int) error {
	h, head := f.Header, append([]byte(nil), f.Head...)
	p.maxBack = h.MaxBack()
	begin := min(p.Free(), p.maxBack, len(p.area))
	if need := len(head) + len(f.Main) - begin; need+reserve > h.Size {
		bigger, err := bump(head, need+reserve)
		if err != nil && need > h.Size {
			bigger, err = bump(head, need)
		}
		if err == nil {
			h = bigger
			p.Bumped++
		} else if need > h.Size {
			return err
		}
	}
	h.SetMainDataBegin(head, begin)
	start := len(p.area) - begin
	p.area = append(p.area, make([]byte, h.Size-len(head))...)
	copy(p.area[start:], f.Main)
	p.used = start + len(f.Main)
	p.pending = append(p.pending, head)
	p.sizes = append(p.sizes, h.Size-len(head))
	return p.Flush(false)
}

// bump raises the bitrate index in head to the lowest whose frame is at
// least size bytes, and returns the new header; or leaves head as it was.
func bump(head []byte, size int) (Header, error) {
	was := head[2]
	for i := int(head[2]>>4) + 1; i < 15; i++ {
		head[2] = head[2]&0x0F | byte(i)<<4
		if h, err := ParseHeader(head); err == nil && h.Size >= size {
			return h, nil
		}
	}
	head[2] = was
	return Header{}, errNoRoom
}

// Flush hands on the pending frames that no later frame's data can reach,
// or all of them.
func (p *Packer) Flush(all bool) error {
	reach := max(p.used, len(p.area)-p.maxBack)
	off, n := 0, 0
	for ; n < len(p.pending); n++ {
		size := p.sizes[n]
		if !all && off+size > reach {
			break
		}
		p.buf = append(append(p.buf[:0], p.pending[n]...), p.area[off:off+size]...)
		if err := p.Emit(p.buf); err != nil {
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
