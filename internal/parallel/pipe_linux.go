package parallel

import (
	"os"
	"syscall"
)

// fSetPipeSize is Linux's F_SETPIPE_SZ.
const fSetPipeSize = 1031

// growPipe asks for a 1 MiB pipe buffer (what an unprivileged process may
// have by default) instead of 64 KiB: the PCM of a long file crosses two
// pipes, and each wake-up of a reader costs a system call or two.
// Best effort: the pipe works either way.
func growPipe(p any) {
	f, ok := p.(*os.File)
	if !ok {
		return
	}
	c, err := f.SyscallConn()
	if err != nil {
		return
	}
	c.Control(func(fd uintptr) { syscall.Syscall(syscall.SYS_FCNTL, fd, fSetPipeSize, 1<<20) })
}
