package localfs_test

import (
	"testing"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/blobtest"
	"github.com/mp3converter/mp3converter/localfs"
)

func TestConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) mp3converter.BlobStore {
		s, err := localfs.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
