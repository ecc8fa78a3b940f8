package mp4

import (
	"encoding/binary"
	"math"

	"github.com/mp3converter/mp3converter/internal/probe/codec"
)

// soundEntry reads an audio sample entry: the codec as ffprobe names it,
// and the sample rate. The entry's fixed fields precede child boxes with
// the codec's configuration, which QuickTime may wrap in a wave box.
func soundEntry(typ string, e []byte) (name string, rate int, ok bool) {
	a, ok := parseAudioEntry(e)
	if !ok {
		return "", 0, false
	}
	cfg, ok := entryConfig(a.kids)
	if !ok || (cfg.esds != nil) != (typ == "mp4a") {
		return "", 0, false
	}
	name, rate, ok = soundCodec(typ, a.rate, cfg)
	return name, rate, ok && rate > 0
}

// soundConfig holds the configuration boxes of an audio sample entry.
type soundConfig struct {
	esds, dfLa, alac []byte
}

// entryConfig finds an audio sample entry's configuration boxes, among
// its children or in their wave box. An encrypted entry (sinf) is refused.
func entryConfig(kids []byte) (cfg soundConfig, ok bool) {
	var wave, sinf []byte
	if !collect(kids, map[string]*[]byte{"esds": &cfg.esds, "dfLa": &cfg.dfLa, "alac": &cfg.alac, "wave": &wave, "sinf": &sinf}, refused) || sinf != nil {
		return cfg, false
	}
	if wave != nil {
		var esds, alac []byte
		if !collect(wave, map[string]*[]byte{"esds": &esds, "alac": &alac}, refused) ||
			(esds != nil && cfg.esds != nil) || (alac != nil && cfg.alac != nil) {
			return cfg, false
		}
		cfg.esds, cfg.alac = either(cfg.esds, esds), either(cfg.alac, alac)
	}
	return cfg, true
}

// either is a unless it is nil, else b.
func either(a, b []byte) []byte {
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
			r, ok = codec.FLACRate(cfg.dfLa[4:]) // after version and flags
		}
		return "flac", r, ok && (rate == 0 || rate == r)
	case "alac":
		r, ok := alacRate(cfg.alac)
		return "alac", r, ok && r <= math.MaxInt32 && (rate == 0 || rate == r)
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

// alacRate reads the rate of an ALACSpecificConfig, after version and
// flags: its last field.
func alacRate(b []byte) (int, bool) {
	if len(b) < 28 {
		return 0, false
	}
	return int(binary.BigEndian.Uint32(b[24:])), true
}

// esdsCodec names the codec of an esds box's DecoderConfigDescriptor by
// its object type, as ffmpeg's ff_mov_read_esds does, and for AAC takes
// the rate from the AudioSpecificConfig.
func esdsCodec(b []byte, rate int) (string, int, bool) {
	objectType, rest, ok := esdsConfig(b)
	if !ok {
		return "", 0, false
	}
	switch objectType {
	case 0x40, 0x66, 0x67, 0x68:
		asc, ok := descriptor(rest, 5) // DecoderSpecificInfo
		if !ok {
			return "", 0, false
		}
		rate, ok = codec.AACRate(asc)
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
