// Package diskspace measures the free space of the filesystem that holds a
// directory, for readiness checks and for refusing work that could not be
// stored.
package diskspace

import (
	"context"
	"fmt"
	"syscall"

	"github.com/mp3converter/mp3converter"
)

// Free returns the bytes an unprivileged user may still write on the
// filesystem that holds dir.
func Free(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, fmt.Errorf("free space of %s: %w", dir, err)
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// Floor returns a check that fails while the filesystem of dir has less
// than min bytes free, with an error wrapping
// mp3converter.ErrInsufficientStorage; it fails with another error if dir
// cannot be measured. A min of 0 or less never fails.
func Floor(dir string, min int64) func(context.Context) error {
	return func(context.Context) error {
		if min <= 0 {
			return nil
		}
		free, err := Free(dir)
		if err != nil {
			return err
		}
		if free < min {
			return fmt.Errorf("%s has %s free, below the floor of %s: %w", dir, mib(free), mib(min), mp3converter.ErrInsufficientStorage)
		}
		return nil
	}
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
