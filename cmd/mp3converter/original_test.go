//go:build integration

package main

// Stand-ins for the original system's four Python services, written from
// the wire contracts in ORIGINAL-SYSTEM.md and nothing else, so that the
// mixed tests can run each of them beside three of ours. They keep the
// original's behaviour, flaws included (plain-text passwords, every token
// admin, no ownership check on /download, whole-message nack with requeue):
// they are a yardstick, not a model.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/smtp"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	"github.com/golang-jwt/jwt/v5"
	amqp "github.com/rabbitmq/amqp091-go"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// serveHTTP serves h on a loopback port until the test ends and returns
// its host:port.
func serveHTTP(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	testOnlyServers.Store(ln.Addr().String(), true)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// flaskText answers as a Flask view returning (text, status) does.
func flaskText(w http.ResponseWriter, status int, text string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	io.WriteString(w, text)
}

// queuesByHand declares the durable queues video and mp3 as the original's
// operators made them in the RabbitMQ console: the original declares none.
func queuesByHand(t *testing.T, queueURL string) {
	t.Helper()
	ch := amqpChannel(t, queueURL)
	defer ch.Close()
	for _, q := range []string{"video", "mp3"} {
		if _, err := ch.QueueDeclare(q, true, false, false, false, nil); err != nil {
			t.Fatalf("declare %s: %v", q, err)
		}
	}
}

// originalAuth is the original auth service: users in MySQL table `user`
// with plain-text passwords, and HS256 tokens that always say admin.
type originalAuth struct {
	addr   string // host:port, AUTH_SVC_ADDRESS
	db     *sql.DB
	secret []byte
}

// startOriginalAuth runs the original auth on the database of the
// mysql:// URL, making its table as the original's init script does.
func startOriginalAuth(t *testing.T, databaseURL, secret string) *originalAuth {
	t.Helper()
	u, err := url.Parse(databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	// The original's MYSQL_HOST, MYSQL_PORT, MYSQL_USER, MYSQL_PASSWORD, MYSQL_DB.
	password, _ := u.User.Password()
	db, err := sql.Open("mysql", fmt.Sprintf("%s:%s@tcp(%s)%s", u.User.Username(), password, u.Host, u.Path))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(`CREATE TABLE user (id INT AUTO_INCREMENT PRIMARY KEY, email VARCHAR(255) NOT NULL UNIQUE, password VARCHAR(255) NOT NULL)`); err != nil {
		t.Fatalf("the original's init script: %v", err)
	}
	a := &originalAuth{db: db, secret: []byte(secret)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", a.login)
	mux.HandleFunc("POST /validate", a.validate)
	a.addr = serveHTTP(t, mux)
	return a
}

// addUser inserts a user with a plain-text password, as the original's
// init script seeds one.
func (a *originalAuth) addUser(t *testing.T, email, password string) {
	t.Helper()
	if _, err := a.db.Exec("INSERT INTO user (email, password) VALUES (?, ?)", email, password); err != nil {
		t.Fatal(err)
	}
}

func (a *originalAuth) login(w http.ResponseWriter, r *http.Request) {
	email, password, ok := r.BasicAuth()
	if !ok {
		flaskText(w, http.StatusUnauthorized, "missing credentials")
		return
	}
	var storedEmail, storedPassword string
	err := a.db.QueryRowContext(r.Context(), "SELECT email, password FROM user WHERE email=?", email).Scan(&storedEmail, &storedPassword)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		flaskText(w, http.StatusUnauthorized, "invalid credentials")
		return
	case err != nil:
		flaskText(w, http.StatusInternalServerError, "internal server error")
		return
	case storedEmail != email || storedPassword != password:
		flaskText(w, http.StatusUnauthorized, "invalid credentials")
		return
	}
	now := time.Now()
	token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"username": email, "exp": now.Add(24 * time.Hour).Unix(), "iat": now.Unix(), "admin": true,
	}).SignedString(a.secret)
	if err != nil {
		flaskText(w, http.StatusInternalServerError, "internal server error")
		return
	}
	flaskText(w, http.StatusOK, token)
}

func (a *originalAuth) validate(w http.ResponseWriter, r *http.Request) {
	header := r.Header.Get("Authorization")
	if header == "" {
		flaskText(w, http.StatusUnauthorized, "missing credentials")
		return
	}
	var scheme, token string
	fmt.Sscan(header, &scheme, &token) // encoded_jwt.split(" ")[1]
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) { return a.secret, nil },
		jwt.WithValidMethods([]string{"HS256"}))
	if err != nil {
		flaskText(w, http.StatusForbidden, "not authorized")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(claims)
}

// originalGateway is the original gateway: it asks auth about every token,
// keeps files in GridFS and queues videos on one channel opened at start.
type originalGateway struct {
	t      *testing.T // checks our auth's answers against docs/openapi.yaml
	URL    string
	auth   string // AUTH_SVC_ADDRESS
	videos *mongo.GridFSBucket
	mp3s   *mongo.GridFSBucket

	mu        sync.Mutex
	ch        *amqp.Channel
	published []string // the bodies put on video, for the tests
}

func startOriginalGateway(t *testing.T, authAddr, storeURL, queueURL string) *originalGateway {
	t.Helper()
	g := &originalGateway{t: t, auth: authAddr, ch: amqpChannel(t, queueURL),
		videos: mongoDB(t, storeURL, "videos").GridFSBucket(), mp3s: mongoDB(t, storeURL, "mp3s").GridFSBucket()}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", g.login)
	mux.HandleFunc("POST /upload", g.upload)
	mux.HandleFunc("GET /download", g.download)
	g.URL = "http://" + serveHTTP(t, mux)
	return g
}

// videoMessages returns the messages the gateway published on video.
func (g *originalGateway) videoMessages() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.published...)
}

// callAuth posts to auth and passes its answer through to w unless it is
// 200, whose body it returns.
func (g *originalGateway) callAuth(w http.ResponseWriter, req *http.Request) ([]byte, bool) {
	resp, err := (&http.Client{Timeout: 15 * time.Second}).Do(req)
	if err != nil {
		flaskText(w, http.StatusInternalServerError, "internal server error")
		return nil, false
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		flaskText(w, http.StatusInternalServerError, "internal server error")
		return nil, false
	}
	checkAPI(g.t, req, resp, body)
	if resp.StatusCode != http.StatusOK {
		flaskText(w, resp.StatusCode, string(body))
		return nil, false
	}
	return body, true
}

func (g *originalGateway) login(w http.ResponseWriter, r *http.Request) {
	email, password, ok := r.BasicAuth()
	if !ok {
		flaskText(w, http.StatusUnauthorized, "missing credentials")
		return
	}
	req, _ := http.NewRequestWithContext(r.Context(), http.MethodPost, "http://"+g.auth+"/login", nil)
	req.SetBasicAuth(email, password)
	if token, ok := g.callAuth(w, req); ok {
		flaskText(w, http.StatusOK, string(token))
	}
}

// admin is validate.token followed by the original's admin check: the
// claims if auth's /validate takes the token and they say admin.
func (g *originalGateway) admin(w http.ResponseWriter, r *http.Request) (map[string]any, bool) {
	header := r.Header.Get("Authorization")
	if header == "" {
		flaskText(w, http.StatusUnauthorized, "missing credentials")
		return nil, false
	}
	req, _ := http.NewRequestWithContext(r.Context(), http.MethodPost, "http://"+g.auth+"/validate", nil)
	req.Header.Set("Authorization", header)
	body, ok := g.callAuth(w, req)
	if !ok {
		return nil, false
	}
	var access map[string]any
	if err := json.Unmarshal(body, &access); err != nil {
		flaskText(w, http.StatusInternalServerError, "internal server error")
		return nil, false
	}
	if access["admin"] != true {
		flaskText(w, http.StatusUnauthorized, "not authorized")
		return nil, false
	}
	return access, true
}

func (g *originalGateway) upload(w http.ResponseWriter, r *http.Request) {
	access, ok := g.admin(w, r)
	if !ok {
		return
	}
	var files []*multipart.FileHeader
	if err := r.ParseMultipartForm(32 << 20); err == nil {
		defer r.MultipartForm.RemoveAll()
		for _, fhs := range r.MultipartForm.File {
			files = append(files, fhs...)
		}
	}
	if len(files) != 1 {
		flaskText(w, http.StatusBadRequest, "exactly 1 file required")
		return
	}
	f, err := files[0].Open()
	if err != nil {
		flaskText(w, http.StatusInternalServerError, "internal server error")
		return
	}
	defer f.Close()
	fid, err := g.videos.UploadFromStream(r.Context(), "", f) // fs.put(f): no file name
	if err != nil {
		flaskText(w, http.StatusInternalServerError, "internal server error")
		return
	}
	username, _ := json.Marshal(access["username"])
	body := fmt.Sprintf(`{"video_fid": "%s", "mp3_fid": null, "username": %s}`, fid.Hex(), username) // json.dumps
	g.mu.Lock()
	err = g.ch.PublishWithContext(r.Context(), "", "video", false, false,
		amqp.Publishing{DeliveryMode: amqp.Persistent, Body: []byte(body)})
	if err == nil {
		g.published = append(g.published, body)
	}
	g.mu.Unlock()
	if err != nil {
		g.videos.Delete(context.WithoutCancel(r.Context()), fid)
		flaskText(w, http.StatusInternalServerError, "internal server error")
		return
	}
	flaskText(w, http.StatusOK, "success!")
}

// download streams any MP3 to any admin: the original checks no owner.
func (g *originalGateway) download(w http.ResponseWriter, r *http.Request) {
	if _, ok := g.admin(w, r); !ok {
		return
	}
	fid := r.URL.Query().Get("fid")
	if fid == "" {
		flaskText(w, http.StatusBadRequest, "fid is required")
		return
	}
	oid, err := bson.ObjectIDFromHex(fid)
	if err != nil {
		flaskText(w, http.StatusInternalServerError, "internal server error")
		return
	}
	ds, err := g.mp3s.OpenDownloadStream(r.Context(), oid)
	if err != nil {
		flaskText(w, http.StatusInternalServerError, "internal server error")
		return
	}
	defer ds.Close()
	// send_file(out, download_name=f"{fid_string}.mp3")
	w.Header().Set("Content-Type", "audio/mpeg")
	w.Header().Set("Content-Disposition", "inline; filename="+fid+".mp3")
	io.Copy(w, ds)
}

// consumeOriginal consumes queue as the original's pika consumers do, with
// manual acks: ack when handle succeeds, nack with requeue when it fails
// (forever). It stops when the test ends.
func consumeOriginal(t *testing.T, queueURL, queue string, handle func(context.Context, *amqp.Channel, []byte) error) {
	t.Helper()
	ch := amqpChannel(t, queueURL)
	if err := ch.Qos(1, 0, false); err != nil {
		t.Fatal(err)
	}
	deliveries, err := ch.Consume(queue, "", false, false, false, false, nil)
	if err != nil {
		t.Fatalf("consume %s: %v", queue, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for d := range deliveries {
			if err := handle(ctx, ch, d.Body); err != nil {
				t.Logf("original consumer of %s: %v; nack with requeue", queue, err)
				d.Nack(false, true)
				time.Sleep(200 * time.Millisecond) // keep a failing message from flooding the log
				continue
			}
			d.Ack(false)
		}
	}()
	t.Cleanup(func() { cancel(); ch.Close(); <-done })
}

// originalConverter is the original converter: video in GridFS videos,
// audio out as an MP3 in GridFS mp3s, the message republished on mp3 with
// mp3_fid filled in. The original never deletes the video.
type originalConverter struct {
	videos, mp3s *mongo.GridFSBucket
	tempDir      string

	mu     sync.Mutex
	stored []string // the MP3s' fids, for the tests
}

func startOriginalConverter(t *testing.T, storeURL, queueURL string) *originalConverter {
	t.Helper()
	c := &originalConverter{tempDir: t.TempDir(),
		videos: mongoDB(t, storeURL, "videos").GridFSBucket(), mp3s: mongoDB(t, storeURL, "mp3s").GridFSBucket()}
	consumeOriginal(t, queueURL, "video", c.convert)
	return c
}

// storedMP3s returns the fids of the MP3s the converter stored.
func (c *originalConverter) storedMP3s() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.stored...)
}

func (c *originalConverter) convert(ctx context.Context, ch *amqp.Channel, body []byte) error {
	var msg map[string]any
	if err := json.Unmarshal(body, &msg); err != nil {
		return err
	}
	videoFID, _ := msg["video_fid"].(string)
	oid, err := bson.ObjectIDFromHex(videoFID)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp(c.tempDir, "convert-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	// moviepy reads a file: the video goes to a temp file, never a pipe.
	in, out := filepath.Join(dir, "video"), filepath.Join(dir, "audio.mp3")
	if err := gridfsToFile(ctx, c.videos, oid, in); err != nil {
		return err
	}
	if b, err := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-loglevel", "error", "-i", in, "-vn", out).CombinedOutput(); err != nil {
		return fmt.Errorf("ffmpeg: %v\n%s", err, b)
	}
	f, err := os.Open(out)
	if err != nil {
		return err
	}
	defer f.Close()
	mp3, err := c.mp3s.UploadFromStream(ctx, "", f)
	if err != nil {
		return err
	}
	msg["mp3_fid"] = mp3.Hex()
	republished, _ := json.Marshal(msg)
	err = ch.PublishWithContext(ctx, "", "mp3", false, false, amqp.Publishing{DeliveryMode: amqp.Persistent, Body: republished})
	if err != nil {
		c.mp3s.Delete(context.WithoutCancel(ctx), mp3)
		return err
	}
	c.mu.Lock()
	c.stored = append(c.stored, mp3.Hex())
	c.mu.Unlock()
	return nil
}

// gridfsToFile copies the GridFS file id to path.
func gridfsToFile(ctx context.Context, b *mongo.GridFSBucket, id bson.ObjectID, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := b.DownloadToStream(ctx, id, f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// startOriginalNotification runs the original notification: for each
// message on mp3 a plain-text mail to username over SMTP.
func startOriginalNotification(t *testing.T, queueURL, smtpAddr string) {
	t.Helper()
	const from = "mp3converter.original@example.com" // GMAIL_ADDRESS
	consumeOriginal(t, queueURL, "mp3", func(ctx context.Context, _ *amqp.Channel, body []byte) error {
		var msg map[string]any
		if err := json.Unmarshal(body, &msg); err != nil {
			return err
		}
		to, _ := msg["username"].(string)
		if to == "" {
			return fmt.Errorf("no receiver in %s", body)
		}
		// EmailMessage with set_content, then Subject, From and To. SendMail
		// refuses a receiver with CR or LF, so none reaches the header.
		mail := "Content-Type: text/plain; charset=\"utf-8\"\r\nContent-Transfer-Encoding: 7bit\r\nMIME-Version: 1.0\r\n" +
			"Subject: MP3 Download\r\nFrom: " + from + "\r\nTo: " + to + "\r\n\r\n" +
			fmt.Sprintf("mp3 file_id: %v is now ready!\r\n", msg["mp3_fid"])
		return smtp.SendMail(smtpAddr, nil, from, []string{to}, []byte(mail))
	})
}
