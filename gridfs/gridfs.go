// Package gridfs implements mp3converter.BlobStore on MongoDB GridFS.
//
// A Store owns the default bucket, fs, of one database: "videos" or "mp3s",
// the layout of the seed system. A blob id is the hex form of the file's
// ObjectId _id (and its filename), so the seed's
// gridfs.GridFS(db).get(ObjectId(fid)) reads what Put writes, and Get reads
// what the seed's put wrote.
//
// Put streams through a buffer of putBatch chunks (about 1 MiB; the
// driver's upload stream would hold 16 MiB, a size it does not let us
// change, and as much again to encode it, per upload) and never touches an
// existing file: it checks that the id is free before writing any chunk. The
// files document is written last, and a failed or cancelled Put deletes its
// chunks, so a blob appears whole or not at all. Get reads getBatch chunks
// (about 1 MiB) at a time and returns a file that seeks, for range
// requests. Connection failures and timeouts wrap
// mp3converter.ErrUnavailable.
package gridfs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/topology"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/internal/ctxio"
	"github.com/mp3converter/mp3converter/internal/redact"
)

const (
	// connectTimeout bounds connecting and server selection, unless the URI
	// sets connectTimeoutMS or serverSelectionTimeoutMS.
	connectTimeout = 5 * time.Second
	// cleanupTimeout bounds deleting the chunks of a failed Put, which runs
	// even when the Put's context has ended.
	cleanupTimeout = 10 * time.Second
)

// Connect connects to the MongoDB server at uri and pings it. A server that
// cannot be reached in time is an error wrapping mp3converter.ErrUnavailable;
// a malformed uri is an internal error. Error messages never contain the
// uri's password. The caller disconnects the client.
func Connect(ctx context.Context, uri string) (*mongo.Client, error) {
	opts := options.Client().
		SetConnectTimeout(connectTimeout).
		SetServerSelectionTimeout(connectTimeout).
		ApplyURI(uri)
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("gridfs connect %s: invalid URI: %w", redact.URL(uri), redact.Error(err, uri))
	}
	client, err := mongo.Connect(opts)
	if err != nil {
		return nil, fmt.Errorf("gridfs connect %s: %w: %w", redact.URL(uri), mp3converter.ErrUnavailable, redact.Error(err, uri))
	}
	if err := client.Ping(ctx, readpref.Primary()); err != nil {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), connectTimeout)
		defer cancel()
		client.Disconnect(dctx)
		return nil, fmt.Errorf("gridfs connect %s: %w: %w", redact.URL(uri), mp3converter.ErrUnavailable, redact.Error(err, uri))
	}
	return client, nil
}

// CheckURL says what is wrong with uri as Connect would, without
// connecting: for checking settings at start. The error never contains
// the uri's password.
func CheckURL(uri string) error {
	if err := options.Client().ApplyURI(uri).Validate(); err != nil {
		return fmt.Errorf("invalid URI %s: %w", redact.URL(uri), redact.Error(err, uri))
	}
	return nil
}

// Store is the GridFS bucket fs of one database.
type Store struct {
	db *mongo.Database
	// bucket serves Get and Delete, which keep no state in it, and names
	// the collections Put writes.
	bucket *mongo.GridFSBucket

	indexMu sync.Mutex
	indexed bool // Put has made the indexes
}

var (
	_ mp3converter.BlobStore  = (*Store)(nil)
	_ mp3converter.BlobStater = (*Store)(nil)
)

// New returns the store of the bucket fs in database. The caller
// disconnects client once its stores are closed.
func New(client *mongo.Client, database string) *Store {
	db := client.Database(database)
	return &Store{db: db, bucket: db.GridFSBucket()}
}

// Close returns nil: the client, which its opener disconnects, holds the
// connections.
func (s *Store) Close() error { return nil }

// Put implements mp3converter.BlobStore. It stores r as the file with _id
// ObjectId(id) and filename id. It returns an EINVALID *Error if id is not
// a valid id, an error wrapping mp3converter.ErrConflict if the file exists
// or another Put of it is under way, and one wrapping
// mp3converter.ErrUnavailable if the server cannot be reached.
func (s *Store) Put(ctx context.Context, id string, r io.Reader) (int64, error) {
	if !mp3converter.ValidID(id) {
		return 0, mp3converter.Errorf(mp3converter.EINVALID, "invalid blob id %q", id)
	}
	oid, _ := bson.ObjectIDFromHex(id)

	// Check first: a failed upload deletes chunks by files_id, which would
	// delete the chunks of an existing file with this id.
	exists, err := s.exists(ctx, oid)
	if err != nil {
		return 0, s.wrap(ctx, "put", id, err)
	}
	if exists {
		return 0, fmt.Errorf("gridfs put %s: %w", id, mp3converter.ErrConflict)
	}
	if err := s.ensureIndexes(ctx); err != nil {
		return 0, s.wrap(ctx, "put", id, err)
	}
	if err := s.claim(ctx, oid); err != nil {
		if mongo.IsDuplicateKeyError(err) {
			return 0, fmt.Errorf("gridfs put %s: %w: another upload of it is under way", id, mp3converter.ErrConflict)
		}
		return 0, s.wrap(ctx, "put", id, err)
	}
	defer s.unclaim(ctx, oid)
	n, err := s.writeChunks(ctx, oid, ctxio.Reader(ctx, r))
	if err == nil {
		_, err = s.bucket.GetFilesCollection().InsertOne(ctx, bson.D{
			{Key: "_id", Value: oid},
			{Key: "length", Value: n},
			{Key: "chunkSize", Value: int32(chunkSize)},
			{Key: "uploadDate", Value: bson.NewDateTimeFromTime(time.Now())},
			{Key: "filename", Value: id},
		})
	}
	if err != nil {
		return 0, s.abandon(ctx, id, oid, err)
	}
	return n, nil
}

// GridFS's layout, as the driver writes it: chunkSize bytes a chunk (the
// driver's default), and a Put inserts putBatch chunks at a time.
const (
	chunkSize = 255 << 10
	putBatch  = 4
)

// writeChunks stores r as the chunks of file oid, putBatch at a time, and
// returns its length. The buffer is reused: a Put holds putBatch chunks.
func (s *Store) writeChunks(ctx context.Context, oid bson.ObjectID, r io.Reader) (int64, error) {
	buf := make([]byte, putBatch*chunkSize)
	var total int64
	n := int32(0)
	for {
		k, rerr := io.ReadFull(r, buf)
		if rerr != nil && rerr != io.EOF && rerr != io.ErrUnexpectedEOF {
			return 0, rerr
		}
		docs := make([]any, 0, putBatch)
		for off := 0; off < k; off += chunkSize {
			end := min(off+chunkSize, k)
			docs = append(docs, bson.D{
				{Key: "_id", Value: bson.NewObjectID()},
				{Key: "files_id", Value: oid},
				{Key: "n", Value: n},
				{Key: "data", Value: bson.Binary{Data: buf[off:end]}},
			})
			n++
		}
		if len(docs) > 0 {
			if _, err := s.bucket.GetChunksCollection().InsertMany(ctx, docs); err != nil {
				return 0, err
			}
		}
		total += int64(k)
		if rerr != nil {
			return total, nil
		}
	}
}

// ensureIndexes creates, once per Store, the indexes the driver's
// upload stream would: chunks unique by (files_id, n), files by
// (filename, uploadDate). A failure is retried by the next Put.
func (s *Store) ensureIndexes(ctx context.Context) error {
	s.indexMu.Lock()
	defer s.indexMu.Unlock()
	if s.indexed {
		return nil
	}
	_, err := s.bucket.GetChunksCollection().Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: "files_id", Value: int32(1)}, {Key: "n", Value: int32(1)}},
		Options: options.Index().SetUnique(true),
	})
	if err == nil {
		_, err = s.bucket.GetFilesCollection().Indexes().CreateOne(ctx, mongo.IndexModel{
			Keys: bson.D{{Key: "filename", Value: int32(1)}, {Key: "uploadDate", Value: int32(1)}},
		})
	}
	s.indexed = err == nil
	return err
}

// abandon cleans up after the upload of oid failed with err and returns the
// error Put returns. The chunks written so far are deleted, with a context
// of their own since ctx may have ended, unless a files document for oid
// exists: then the chunks are those of a whole file, written by another Put
// of the same id or by this one if only the server's reply was lost.
// (GridFSUploadStream.Abort is not used: it deletes the chunks with the
// upload's context, which fails once ctx has ended.)
func (s *Store) abandon(ctx context.Context, id string, oid bson.ObjectID, err error) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	exists, xerr := s.exists(cctx, oid)
	switch {
	case xerr != nil:
		err = errors.Join(err, fmt.Errorf("checking for the file before deleting its chunks: %w", xerr))
	case exists:
		if mongo.IsDuplicateKeyError(err) {
			return fmt.Errorf("gridfs put %s: %w", id, mp3converter.ErrConflict)
		}
	default:
		_, derr := s.bucket.GetChunksCollection().DeleteMany(cctx, bson.D{{Key: "files_id", Value: oid}})
		if derr != nil {
			err = errors.Join(err, fmt.Errorf("deleting the chunks written: %w", derr))
		}
	}
	return s.wrap(ctx, "put", id, err)
}

// claim takes id for one Put: a document of oid in the collection
// fs.uploads, which a racing Put of the same id cannot insert again (its
// _id is unique), so that two Puts never write chunks of one file. GridFS
// readers, the seed's included, never look there. A Put that dies leaves
// its claim, which the next Delete of the id removes.
func (s *Store) claim(ctx context.Context, oid bson.ObjectID) error {
	_, err := s.uploads().InsertOne(ctx, bson.D{{Key: "_id", Value: oid}, {Key: "at", Value: bson.NewDateTimeFromTime(time.Now())}})
	return err
}

// unclaim ends a Put's claim, whatever became of the Put.
func (s *Store) unclaim(ctx context.Context, oid bson.ObjectID) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	s.uploads().DeleteOne(cctx, bson.D{{Key: "_id", Value: oid}})
}

func (s *Store) uploads() *mongo.Collection { return s.db.Collection("fs.uploads") }

// exists reports whether the files collection has a document for oid.
func (s *Store) exists(ctx context.Context, oid bson.ObjectID) (bool, error) {
	err := s.bucket.GetFilesCollection().FindOne(ctx,
		bson.D{{Key: "_id", Value: oid}},
		options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 1}}),
	).Err()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return false, nil
	}
	return err == nil, err
}

// Get implements mp3converter.BlobStore. The returned file implements
// io.Seeker; ctx governs its reads too. Get returns an error wrapping
// mp3converter.ErrNotFound if id is invalid or the file does not exist, and
// one wrapping mp3converter.ErrUnavailable if the server cannot be reached.
func (s *Store) Get(ctx context.Context, id string) (io.ReadSeekCloser, error) {
	if !mp3converter.ValidID(id) {
		return nil, fmt.Errorf("gridfs get %q: %w", id, mp3converter.ErrNotFound)
	}
	oid, _ := bson.ObjectIDFromHex(id)
	doc, err := s.fileDoc(ctx, "get", id, oid)
	if err != nil {
		return nil, err
	}
	if doc.Length < 0 || (doc.Length > 0 && doc.ChunkSize <= 0) {
		return nil, fmt.Errorf("gridfs get %s: bad files document (length %d, chunkSize %d)", id, doc.Length, doc.ChunkSize)
	}
	return &file{s: s, ctx: ctx, id: id, oid: oid, size: doc.Length, chunkSize: doc.ChunkSize}, nil
}

// Delete implements mp3converter.BlobStore. It returns an error wrapping
// mp3converter.ErrNotFound if id is invalid or the file does not exist, and
// one wrapping mp3converter.ErrUnavailable if the server cannot be reached.
func (s *Store) Delete(ctx context.Context, id string) error {
	if !mp3converter.ValidID(id) {
		return fmt.Errorf("gridfs delete %q: %w", id, mp3converter.ErrNotFound)
	}
	oid, _ := bson.ObjectIDFromHex(id)
	err := s.bucket.Delete(ctx, oid)
	if err == nil || errors.Is(err, mongo.ErrFileNotFound) {
		// A claim left by a Put that died would refuse the id for ever.
		if _, cerr := s.uploads().DeleteOne(ctx, bson.D{{Key: "_id", Value: oid}}); cerr != nil && err == nil {
			err = cerr
		}
	}
	if errors.Is(err, mongo.ErrFileNotFound) {
		return fmt.Errorf("gridfs delete %s: %w", id, mp3converter.ErrNotFound)
	}
	if err != nil {
		return s.wrap(ctx, "delete", id, err)
	}
	return nil
}

// Stat implements mp3converter.BlobStater from the file's document. Name
// is the filename another program gave it (ours name files by their id).
func (s *Store) Stat(ctx context.Context, id string) (mp3converter.BlobInfo, error) {
	if !mp3converter.ValidID(id) {
		return mp3converter.BlobInfo{}, fmt.Errorf("gridfs stat %q: %w", id, mp3converter.ErrNotFound)
	}
	oid, _ := bson.ObjectIDFromHex(id)
	doc, err := s.fileDoc(ctx, "stat", id, oid)
	if err != nil {
		return mp3converter.BlobInfo{}, err
	}
	info := mp3converter.BlobInfo{Size: doc.Length, Name: doc.Filename, Created: doc.UploadDate}
	if info.Name == id {
		info.Name = ""
	}
	return info, nil
}

// filesDoc is the part of a file's document in fs.files that is read.
type filesDoc struct {
	Length     int64     `bson:"length"`
	ChunkSize  int64     `bson:"chunkSize"`
	Filename   string    `bson:"filename"`
	UploadDate time.Time `bson:"uploadDate"`
}

// fileDoc reads file oid's document, for operation op on blob id: an
// error wrapping mp3converter.ErrNotFound if there is none.
func (s *Store) fileDoc(ctx context.Context, op, id string, oid bson.ObjectID) (filesDoc, error) {
	var doc filesDoc
	err := s.bucket.GetFilesCollection().FindOne(ctx, bson.D{{Key: "_id", Value: oid}}).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return doc, fmt.Errorf("gridfs %s %s: %w", op, id, mp3converter.ErrNotFound)
	}
	if err != nil {
		return doc, s.wrap(ctx, op, id, err)
	}
	return doc, nil
}

// Ping checks that the server answers, for readiness probes. Any failure
// wraps mp3converter.ErrUnavailable.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.Client().Ping(ctx, readpref.Primary()); err != nil {
		return fmt.Errorf("gridfs ping: %w: %w", mp3converter.ErrUnavailable, err)
	}
	return nil
}

// wrap wraps err with the operation and id, and with
// mp3converter.ErrUnavailable if the server could not be reached and still
// cannot be: an error that looks like a lost connection while the server
// answers a ping is the operation's own (a reply past the driver's message
// limit closes the connection: see TestIntegrationLargeGet), and waiting
// for the server to come back would wait for ever. The job then fails
// after its attempts instead.
func (s *Store) wrap(ctx context.Context, op, id string, err error) error {
	if !unavailable(err) {
		return fmt.Errorf("gridfs %s %s: %w", op, id, err)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pingTimeout)
	defer cancel()
	if s.Ping(ctx) == nil {
		return fmt.Errorf("gridfs %s %s: %w (the server answers: not an outage)", op, id, err)
	}
	return fmt.Errorf("gridfs %s %s: %w: %w", op, id, mp3converter.ErrUnavailable, err)
}

// pingTimeout bounds the ping that tells an outage from an operation's own
// failure.
const pingTimeout = 5 * time.Second

// unavailable reports whether err is a connection-level failure: no server
// selected, a network error, a timeout, or a disconnected client.
func unavailable(err error) bool {
	return errors.As(err, new(topology.ServerSelectionError)) ||
		mongo.IsNetworkError(err) ||
		mongo.IsTimeout(err) ||
		errors.Is(err, mongo.ErrClientDisconnected)
}
