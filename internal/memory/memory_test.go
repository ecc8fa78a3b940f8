package memory_test

import (
	"testing"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/blobtest"
	"github.com/mp3converter/mp3converter/internal/memory"
	"github.com/mp3converter/mp3converter/storetest"
)

// The fake keeps the contract the real stores keep, so that tests written
// against it hold for them.
func TestBlobs(t *testing.T) {
	blobtest.Run(t, func(*testing.T) mp3converter.BlobStore { return memory.NewBlobs() })
}

func TestBlobsOutage(t *testing.T) {
	blobtest.RunOutage(t, func(*testing.T) (mp3converter.BlobStore, func(), func()) {
		b := memory.NewBlobs()
		return b, func() { b.SetDown(true) }, func() { b.SetDown(false) }
	})
}

func TestLimits(t *testing.T) {
	storetest.RunLimits(t, func(*testing.T) mp3converter.Limits { return memory.NewLimits() })
}
