// Package mp3converter is the domain core of a service that turns uploaded
// videos into MP3 files.
//
// It holds the types every role shares (User, Job, the queue Message) and the
// small interfaces the roles talk through: BlobStore for media, Queue for
// messages between roles, UserStore and JobStore for state, Transcoder for the
// media work and Notifier for telling users. It imports nothing heavy; each
// engine lives in its own package (sqlite, goqite, localfs, ffmpeg, smtp,
// rabbitmq, gridfs, mysql) and the binary in cmd/mp3converter picks them.
package mp3converter

// Default queue names, as in the seed system. Both are configurable
// (VIDEO_QUEUE, MP3_QUEUE).
const (
	DefaultVideoQueue = "video"
	DefaultMP3Queue   = "mp3"
)

// DeadLetterQueue names the queue that holds the messages of queue that could
// not be handled.
func DeadLetterQueue(queue string) string { return queue + ".dead" }
