// Package app assembles mp3converter processes. It owns the one Config and
// its flag table, opens the engines once (embedded: SQLite, local disk and
// goqite in one data dir; shared: MySQL, GridFS and RabbitMQ), builds each
// role from them, and runs and closes a process with any set of roles.
//
// "serve" is every role on the embedded engines; "gateway", "auth",
// "converter" and "notification" are one role each on the shared engines.
// Both are the same Main with a different Process.
package app

import "strings"

// Role is one of the original system's four services.
type Role uint8

// The roles. A process runs one or more of them.
const (
	Gateway Role = 1 << iota
	Auth
	Converter
	Notification

	AllRoles = Gateway | Auth | Converter | Notification
)

// Has reports whether r includes any role of o.
func (r Role) Has(o Role) bool { return r&o != 0 }

var roleNames = []struct {
	role Role
	name string
}{{Gateway, "gateway"}, {Auth, "auth"}, {Converter, "converter"}, {Notification, "notification"}}

func (r Role) String() string {
	var names []string
	for _, n := range roleNames {
		if r.Has(n.role) {
			names = append(names, n.name)
		}
	}
	return strings.Join(names, ",")
}

// Storage says which engines a process keeps its state on.
type Storage uint8

const (
	// Embedded is SQLite, local files and a SQLite queue in one data dir.
	Embedded Storage = 1 << iota
	// Shared is MySQL, MongoDB GridFS and RabbitMQ, shared by many processes.
	Shared
)

// Process is a shape of process: some roles on some engines.
type Process struct {
	Name    string // the command that runs it
	Summary string
	Storage Storage
	Roles   Role
}

// Processes are the process shapes the binary runs, one command each.
var Processes = []Process{
	{"serve", "run every role in one process with embedded storage", Embedded, AllRoles},
	{"gateway", "the public HTTP API, on MySQL, RabbitMQ and GridFS", Shared, Gateway},
	{"auth", "users and tokens, on MySQL", Shared, Auth},
	{"converter", "ffmpeg workers on the video queue", Shared, Converter},
	{"notification", "mails users when their MP3 is ready", Shared, Notification},
}

// LookupProcess returns the process that the command name runs.
func LookupProcess(name string) (Process, bool) {
	for _, p := range Processes {
		if p.Name == name {
			return p, true
		}
	}
	return Process{}, false
}

// serves reports whether the process answers the public or auth API, and so
// listens on --addr rather than --health-addr.
func (p Process) serves() bool { return p.Roles.Has(Gateway | Auth) }
