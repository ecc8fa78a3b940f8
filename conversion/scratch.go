package conversion

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// ScratchDir makes a directory of this process's own under base for the
// files of its jobs, and removes those of converters that died without
// cleaning up (a process's directory is named after its pid, so a directory
// whose process is gone, or that carries our pid from before a restart, is
// stale). Several converters may share base. The caller removes dir at exit.
func ScratchDir(base string) (dir string, err error) {
	if err := os.MkdirAll(base, 0o750); err != nil {
		return "", fmt.Errorf("temp dir: %w", err)
	}
	pid := os.Getpid()
	entries, err := os.ReadDir(base)
	if err != nil {
		return "", fmt.Errorf("temp dir: %w", err)
	}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), "mp3converter-")
		if !ok || !e.IsDir() {
			continue
		}
		p, _, _ := strings.Cut(rest, "-")
		other, err := strconv.Atoi(p)
		if err != nil {
			continue
		}
		if other == pid || !alive(other) {
			os.RemoveAll(filepath.Join(base, e.Name()))
		}
	}
	dir = filepath.Join(base, fmt.Sprintf("mp3converter-%d-%s", pid, strings.ToLower(rand.Text()[:8])))
	if err := os.Mkdir(dir, 0o700); err != nil {
		return "", fmt.Errorf("temp dir: %w", err)
	}
	return dir, nil
}

// alive reports whether a process with the pid exists.
func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
