//go:build integration

package gridfs_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/blobtest"
	"github.com/mp3converter/mp3converter/gridfs"
	"github.com/mp3converter/mp3converter/internal/testsupport"
)

// These tests need a MongoDB-compatible server: CI starts FerretDB with
// scripts/start-ferretdb.sh. A missing server fails them.

func TestIntegrationConformance(t *testing.T) {
	client := connect(t)
	blobtest.Run(t, func(t *testing.T) mp3converter.BlobStore {
		return gridfs.New(client, newDatabase(t, client).Name())
	})
}

// TestIntegrationOutage: the contract's outage rule (blobtest.RunOutage),
// with a FerretDB of the test's own stopped and started again.
func TestIntegrationOutage(t *testing.T) {
	blobtest.RunOutage(t, func(t *testing.T) (mp3converter.BlobStore, func(), func()) {
		srv, uri := testsupport.FerretDBServer(t)
		client, err := gridfs.Connect(context.Background(), uri)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { client.Disconnect(context.Background()) })
		return gridfs.New(client, "videos"), srv.Stop, srv.Start
	})
}

// TestIntegrationSeedLayout shows that the seed system and Store read each
// other's files: bucket fs, _id an ObjectId, fid its hex.
func TestIntegrationSeedLayout(t *testing.T) {
	client := connect(t)
	db := newDatabase(t, client)
	s := gridfs.New(client, db.Name())

	t.Run("SeedToStore", func(t *testing.T) { testSeedToStore(t, db, s) })
	t.Run("StoreToSeed", func(t *testing.T) { testStoreToSeed(t, db, s) })
}

// testSeedToStore writes a file as the seed does, into db's bucket fs, and
// reads it through s.
func testSeedToStore(t *testing.T, db *mongo.Database, s *gridfs.Store) {
	ctx := context.Background()
	// What pymongo's gridfs.GridFS(db).put(data) writes: chunks of
	// 255 KiB, a files document without filename, int32 numbers where
	// they fit, an md5 (pymongo 3), and a fresh ObjectId as _id.
	data := testsupport.RandomBytes(600<<10 + 7)
	const chunkSize = 255 << 10
	oid := bson.NewObjectID()
	for n := 0; n*chunkSize < len(data); n++ {
		chunk := data[n*chunkSize : min((n+1)*chunkSize, len(data))]
		_, err := db.Collection("fs.chunks").InsertOne(ctx, bson.D{
			{Key: "files_id", Value: oid},
			{Key: "n", Value: int32(n)},
			{Key: "data", Value: bson.Binary{Data: chunk}},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	sum := md5.Sum(data)
	_, err := db.Collection("fs.files").InsertOne(ctx, bson.D{
		{Key: "_id", Value: oid},
		{Key: "chunkSize", Value: int32(chunkSize)},
		{Key: "length", Value: int32(len(data))},
		{Key: "uploadDate", Value: bson.NewDateTimeFromTime(time.Now())},
		{Key: "md5", Value: hex.EncodeToString(sum[:])},
	})
	if err != nil {
		t.Fatal(err)
	}

	rc, err := s.Get(ctx, oid.Hex())
	if err != nil {
		t.Fatalf("Get of a seed file: %v", err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("Get returned %d bytes differing from the %d the seed wrote", len(got), len(data))
	}
	rs := rc.(io.ReadSeeker)
	if end, err := rs.Seek(0, io.SeekEnd); err != nil || end != int64(len(data)) {
		t.Errorf("Seek to end = %d, %v; want %d", end, err, len(data))
	}
}

// testStoreToSeed puts a file through s and reads it from db's bucket fs as
// the seed does.
func testStoreToSeed(t *testing.T, db *mongo.Database, s *gridfs.Store) {
	ctx := context.Background()
	data := testsupport.RandomBytes(300<<10 + 1)
	id := mp3converter.NewID()
	if _, err := s.Put(ctx, id, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	oid, err := bson.ObjectIDFromHex(id)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		ID        bson.ObjectID `bson:"_id"`
		Length    int64         `bson:"length"`
		ChunkSize int32         `bson:"chunkSize"`
		Filename  string        `bson:"filename"`
	}
	if err := db.Collection("fs.files").FindOne(ctx, bson.D{{Key: "_id", Value: oid}}).Decode(&doc); err != nil {
		t.Fatalf("no document with _id ObjectId(%q) in %s.fs.files: %v", id, db.Name(), err)
	}
	if doc.Length != int64(len(data)) || doc.ChunkSize != 255<<10 || doc.Filename != id {
		t.Errorf("files document = %+v; want length %d, chunkSize %d, filename %s", doc, len(data), 255<<10, id)
	}
	if n, err := db.Collection("fs.chunks").CountDocuments(ctx, bson.D{{Key: "files_id", Value: oid}}); err != nil || n != 2 {
		t.Errorf("chunks = %d, %v; want 2", n, err)
	}
	ds, err := db.GridFSBucket().OpenDownloadStream(ctx, oid)
	if err != nil {
		t.Fatalf("plain driver cannot open the file Put wrote: %v", err)
	}
	defer ds.Close()
	got, err := io.ReadAll(ds)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("plain driver read %d bytes differing from the %d put", len(got), len(data))
	}
}

// TestIntegrationRangeRequest serves a file the way /download does.
func TestIntegrationRangeRequest(t *testing.T) {
	ctx := context.Background()
	s, id, data := putRandom(t, 1<<20+3)
	for _, rng := range []struct {
		header     string
		start, end int
	}{{"bytes=700000-700099", 700000, 700100}, {"bytes=10-19", 10, 20}, {"bytes=-5", len(data) - 5, len(data)}} {
		rc, err := s.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodGet, "/download", nil)
		req.Header.Set("Range", rng.header)
		w := httptest.NewRecorder()
		http.ServeContent(w, req, "a.mp3", time.Time{}, rc.(io.ReadSeeker))
		rc.Close()
		if w.Code != http.StatusPartialContent || !bytes.Equal(w.Body.Bytes(), data[rng.start:rng.end]) {
			t.Errorf("Range %s: status %d, %d bytes; want 206 and bytes %d-%d", rng.header, w.Code, w.Body.Len(), rng.start, rng.end-1)
		}
	}
}

// TestIntegrationFailedLargePut fails Puts after the driver has flushed
// chunks to the server (it buffers 16 MiB), which the suite's smaller Puts
// do not reach, and checks that no chunk is left.
func TestIntegrationFailedLargePut(t *testing.T) {
	ctx := context.Background()
	client := connect(t)
	db := newDatabase(t, client)
	s := gridfs.New(client, db.Name())
	const failAt = 17 << 20

	check := func(t *testing.T, id string) {
		t.Helper()
		oid, _ := bson.ObjectIDFromHex(id)
		for _, coll := range []struct{ name, field string }{{"fs.files", "_id"}, {"fs.chunks", "files_id"}} {
			n, err := db.Collection(coll.name).CountDocuments(ctx, bson.D{{Key: coll.field, Value: oid}})
			if err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Errorf("%d documents left in %s", n, coll.name)
			}
		}
	}

	t.Run("ReaderFails", func(t *testing.T) {
		id := mp3converter.NewID()
		r := testsupport.FailAfter(rand.Reader, failAt, errors.New("client went away"))
		if _, err := s.Put(ctx, id, r); err == nil {
			t.Fatal("Put with a failing reader succeeded")
		}
		check(t, id)
	})

	t.Run("Cancelled", func(t *testing.T) {
		id := mp3converter.NewID()
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		r := io.MultiReader(io.LimitReader(rand.Reader, failAt), cancelReader{cancel}, io.LimitReader(rand.Reader, 1<<20))
		_, err := s.Put(cctx, id, r)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Put with a cancelled context: %v, want context.Canceled", err)
		}
		check(t, id)
	})

	t.Run("ConflictKeepsChunks", func(t *testing.T) {
		id := mp3converter.NewID()
		data := testsupport.RandomBytes(600 << 10)
		if _, err := s.Put(ctx, id, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		_, err := s.Put(ctx, id, testsupport.FailAfter(rand.Reader, failAt, errors.New("fail")))
		if !errors.Is(err, mp3converter.ErrConflict) {
			t.Fatalf("second Put: %v, want ErrConflict", err)
		}
		rc, err := s.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		if got, err := io.ReadAll(rc); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("first file damaged: %d bytes, %v", len(got), err)
		}
	})
}

func connect(t *testing.T) *mongo.Client {
	t.Helper()
	uri := testsupport.MongoDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client, err := gridfs.Connect(ctx, uri)
	if err != nil {
		t.Fatalf("no MongoDB-compatible server (set MP3CONVERTER_TEST_MONGODB_URL or run scripts/start-ferretdb.sh): %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		client.Disconnect(ctx)
	})
	return client
}

// newDatabase returns a database of a new random name, dropped when t ends.
func newDatabase(t *testing.T, client *mongo.Client) *mongo.Database {
	t.Helper()
	db := client.Database("test_" + hex.EncodeToString(testsupport.RandomBytes(8)))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := db.Drop(ctx); err != nil {
			t.Errorf("drop %s: %v", db.Name(), err)
		}
	})
	return db
}

// cancelReader cancels its context when read, and reads nothing.
type cancelReader struct{ cancel func() }

func (c cancelReader) Read([]byte) (int, error) {
	c.cancel()
	return 0, io.EOF
}

// TestIntegrationNotAnOutage: an operation's error that looks like a lost
// connection (the driver's network label, as when a reply passes its
// message limit) is an outage only if the server does not answer a ping
// either: with the server up, the job's attempt counts, so that it cannot
// wait for ever. TestUnavailable has the server down.
func TestIntegrationNotAnOutage(t *testing.T) {
	s := gridfs.New(connect(t), "videos")
	lost := mongo.CommandError{Message: "connection closed", Labels: []string{"NetworkError"}}
	if !mongo.IsNetworkError(lost) {
		t.Fatal("the test's error is not a network error")
	}
	err := s.Wrap(context.Background(), "read", mp3converter.NewID(), lost)
	if errors.Is(err, mp3converter.ErrUnavailable) || mp3converter.IsUnavailable(err) {
		t.Errorf("%v: taken for an outage while the server answers", err)
	}
	if !errors.As(err, new(mongo.CommandError)) {
		t.Errorf("%v: the driver's error is lost", err)
	}
}

// TestIntegrationLargeGet reads back a 100 MiB file whole. Through the
// driver's download stream this failed on FerretDB with "length of read
// message too large": its cursor let the server send the remaining chunks
// in one reply past the driver's 48 MB message limit.
func TestIntegrationLargeGet(t *testing.T) {
	start := time.Now()
	s, id, data := putRandom(t, 100<<20+5)
	put := time.Since(start)
	rc, err := s.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	start = time.Now()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading %d MiB back: %v", len(data)>>20, err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes that differ from the %d stored", len(got), len(data))
	}
	t.Logf("100 MiB: connect and Put %v, Get %v", put, time.Since(start))
}

// putRandom stores n random bytes in a new database's store, and returns
// the store, the blob's id and the bytes.
func putRandom(t *testing.T, n int) (*gridfs.Store, string, []byte) {
	t.Helper()
	client := connect(t)
	s := gridfs.New(client, newDatabase(t, client).Name())
	data := testsupport.RandomBytes(n)
	id := mp3converter.NewID()
	if _, err := s.Put(context.Background(), id, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	return s, id, data
}
