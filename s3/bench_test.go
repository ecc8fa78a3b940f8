//go:build integration

package s3_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/internal/testsupport"
	"github.com/mp3converter/mp3converter/s3"
)

// benchSize is the object of the benchmarks: a 100 MB video.
const benchSize = 100_000_000

// BenchmarkS3Put stores a 100 MB object (a multipart upload).
func BenchmarkS3Put(b *testing.B) {
	s := newStore(b, testsupport.S3(b))
	data := testsupport.RandomBytes(benchSize)
	b.SetBytes(benchSize)
	for b.Loop() {
		if _, err := s.Put(context.Background(), mp3converter.NewID(), bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkS3Fetch copies a 100 MB object into a file with parallel
// ranged GETs, as the converter would.
func BenchmarkS3Fetch(b *testing.B) {
	s, id := benchObject(b)
	path := filepath.Join(b.TempDir(), "video")
	b.SetBytes(benchSize)
	for b.Loop() {
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Fetch(context.Background(), id, f); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}

// BenchmarkS3GetCopy copies a 100 MB object into a file through Get's
// reader: one GET, read sequentially.
func BenchmarkS3GetCopy(b *testing.B) {
	s, id := benchObject(b)
	path := filepath.Join(b.TempDir(), "video")
	b.SetBytes(benchSize)
	for b.Loop() {
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		rc, err := s.Get(context.Background(), id)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(f, rc); err != nil {
			b.Fatal(err)
		}
		rc.Close()
		f.Close()
	}
}

// benchObject stores a 100 MB object on a server of b's own.
func benchObject(b *testing.B) (*s3.Store, string) {
	s := newStore(b, testsupport.S3(b))
	id := mp3converter.NewID()
	if _, err := s.Put(context.Background(), id, bytes.NewReader(testsupport.RandomBytes(benchSize))); err != nil {
		b.Fatal(err)
	}
	return s, id
}
