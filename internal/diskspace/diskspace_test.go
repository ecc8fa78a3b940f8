package diskspace_test

import (
	"context"
	"errors"
	"testing"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/internal/diskspace"
)

func TestFloor(t *testing.T) {
	dir := t.TempDir()
	free, err := diskspace.Free(dir)
	if err != nil || free <= 0 {
		t.Fatalf("Free = %d, %v", free, err)
	}
	ctx := context.Background()
	if err := diskspace.Floor(dir, 0)(ctx); err != nil {
		t.Errorf("a floor of 0 failed: %v", err)
	}
	if err := diskspace.Floor(dir, 1)(ctx); err != nil {
		t.Errorf("a floor of 1 byte failed: %v", err)
	}
	err = diskspace.Floor(dir, free+1<<40)(ctx)
	if !errors.Is(err, mp3converter.ErrInsufficientStorage) {
		t.Errorf("a floor above the free space: %v, want ErrInsufficientStorage", err)
	}
	if err := diskspace.Floor(dir+"/missing", 1)(ctx); err == nil || errors.Is(err, mp3converter.ErrInsufficientStorage) {
		t.Errorf("a missing dir: %v, want an error other than out of space", err)
	}
}
