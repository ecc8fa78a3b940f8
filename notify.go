package mp3converter

import "context"

// Mail is one notice to one user.
type Mail struct {
	To      string
	Subject string
	Body    string // plain text
	// ID is a stable Message-ID (without angle brackets), so a mail system
	// can drop a duplicate.
	ID string
}

// Notifier tells users things.
type Notifier interface {
	// Notify sends m. An error wrapped with Permanent means retrying cannot
	// help (the address is rejected).
	Notify(ctx context.Context, m Mail) error
}
