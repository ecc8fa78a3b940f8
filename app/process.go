// Package app assembles mp3converter processes. It owns the one Config and
// its flag table, opens the engines once, each chosen by the scheme of its
// URL setting from one table (engine.go: SQLite or MySQL; goqite or
// RabbitMQ; local files, GridFS or S3), builds each role from them, and runs
// and closes a process with any set of roles.
//
// "serve" is every role alone, by default on SQLite, goqite and files in
// its data dir; "gateway", "auth", "converter" and "notification" are one
// role each on engines they share. Both are the same Main with a different
// Process.
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

// Shape says how a process shares the work.
type Shape uint8

const (
	// Standalone is a process alone with every role, on its data dir: it
	// keeps its secret, scratch files and lock there, and its engines by
	// default (SQLite, goqite, local files).
	Standalone Shape = 1 << iota
	// Split is one role of a deployment of many processes, on engines they
	// share, named by URL.
	Split
)

// Process is a shape of process: some roles, alone or split.
type Process struct {
	Name    string // the command that runs it
	Summary string
	Shape   Shape
	Roles   Role
}

// Processes are the process shapes the binary runs, one command each.
var Processes = []Process{
	{"serve", "run every role in one process: SQLite, local files and goqite in the data dir, or engines named by URL", Standalone, AllRoles},
	{"gateway", "the public HTTP API, on the engines named by URL (MySQL, RabbitMQ, GridFS or S3)", Split, Gateway},
	{"auth", "users and tokens, on the database named by URL (MySQL)", Split, Auth},
	{"converter", "ffmpeg workers on the video queue", Split, Converter},
	{"notification", "mails users when their MP3 is ready", Split, Notification},
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
