package mp3converter

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Message is the JSON carried on the video and mp3 queues. The first three
// fields are the seed's, with its names; a seed service ignores the others.
// On the video queue MP3FID is empty (JSON null).
type Message struct {
	VideoFID string `json:"video_fid"`
	MP3FID   string `json:"mp3_fid"`
	Username string `json:"username"`
	JobID    string `json:"job_id,omitempty"`
	Filename string `json:"filename,omitempty"`
}

// MarshalJSON writes an empty MP3FID as null, as the seed does.
func (m Message) MarshalJSON() ([]byte, error) {
	type wire struct {
		VideoFID string  `json:"video_fid"`
		MP3FID   *string `json:"mp3_fid"`
		Username string  `json:"username"`
		JobID    string  `json:"job_id,omitempty"`
		Filename string  `json:"filename,omitempty"`
	}
	w := wire{VideoFID: m.VideoFID, Username: m.Username, JobID: m.JobID, Filename: m.Filename}
	if m.MP3FID != "" {
		w.MP3FID = &m.MP3FID
	}
	return json.Marshal(w)
}

// DecodeMessage parses and checks a queue message. needMP3 says whether
// mp3_fid must be set (the mp3 queue). Errors are Permanent: a malformed
// message never becomes well-formed by retrying.
func DecodeMessage(body []byte, needMP3 bool) (Message, error) {
	var m Message
	if err := json.Unmarshal(body, &m); err != nil {
		return m, Permanent(Errorf(EINVALID, "malformed message: %v", err))
	}
	m.VideoFID = strings.ToLower(m.VideoFID)
	m.MP3FID = strings.ToLower(m.MP3FID)
	switch {
	case !ValidID(m.VideoFID):
		return m, Permanent(Errorf(EINVALID, "malformed message: video_fid %q is not an ObjectId", m.VideoFID))
	case needMP3 && !ValidID(m.MP3FID):
		return m, Permanent(Errorf(EINVALID, "malformed message: mp3_fid %q is not an ObjectId", m.MP3FID))
	case m.Username == "":
		return m, Permanent(Errorf(EINVALID, "malformed message: username is empty"))
	case m.JobID != "" && !ValidID(m.JobID):
		return m, Permanent(Errorf(EINVALID, "malformed message: job_id %q is not an id", m.JobID))
	}
	return m, nil
}

// String is for logs.
func (m Message) String() string {
	return fmt.Sprintf("job=%s video=%s mp3=%s", m.JobID, m.VideoFID, m.MP3FID)
}
