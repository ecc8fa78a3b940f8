package mp3converter

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"time"
)

// NewID returns a new identifier in MongoDB ObjectId form: 24 lower-case hex
// digits, a 4-byte big-endian Unix time followed by 8 random bytes. Blob ids
// take this form so that they are valid GridFS fids, as in the seed.
func NewID() string {
	var b [12]byte
	binary.BigEndian.PutUint32(b[:4], uint32(time.Now().Unix()))
	rand.Read(b[4:])
	return hex.EncodeToString(b[:])
}

// ValidID reports whether s has the form NewID returns (lower-case hex).
func ValidID(s string) bool {
	if len(s) != 24 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
