package conversion

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

func TestScratchDir(t *testing.T) {
	base := t.TempDir()
	// A dead converter's directory, found by a pid that no longer runs.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead := filepath.Join(base, "mp3converter-"+strconv.Itoa(cmd.Process.Pid)+"-old")
	os.MkdirAll(filepath.Join(dead, "job-x"), 0o700)
	os.WriteFile(filepath.Join(dead, "job-x", "source"), []byte("video"), 0o600)
	// A live converter's directory: our parent's pid stands in for it.
	live := filepath.Join(base, "mp3converter-"+strconv.Itoa(os.Getppid())+"-live")
	os.MkdirAll(live, 0o700)
	// Ours from before a restart with the same pid.
	mine := filepath.Join(base, "mp3converter-"+strconv.Itoa(os.Getpid())+"-before")
	os.MkdirAll(mine, 0o700)
	// Not ours at all.
	other := filepath.Join(base, "unrelated")
	os.MkdirAll(other, 0o700)

	dir, err := ScratchDir(base)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]bool{dead: false, live: true, mine: false, other: true, dir: true} {
		if _, err := os.Stat(path); (err == nil) != want {
			t.Errorf("%s exists = %v, want %v", filepath.Base(path), err == nil, want)
		}
	}
}
