package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mp3converter/mp3converter/internal/cmdflag"
	"github.com/mp3converter/mp3converter/internal/cmdio"
)

// Healthcheck asks a process of this binary whether it is ready, for a
// container's HEALTHCHECK: the image has no shell and no curl. It needs
// no setting when it runs beside the process (docker exec, a Kubernetes
// exec probe): it finds the process in /proc, reads the command and the
// flags it was started with and the environment both share, and asks the
// address that process listens on (--addr, or --health-addr for converter
// and notification).
type Healthcheck struct {
	URL     string        // the URL to ask; "" to find the process
	Role    string        // the process's command, when it cannot be found in Proc
	Timeout time.Duration // for the whole check
	Proc    string        // the /proc to look in; "/proc" if empty
}

// healthPath is asked by default: the process answers and its stores and
// queue are reachable. /healthz would say only that it answers.
const healthPath = "/readyz"

// RunHealthcheck is the healthcheck command: nil when the process answers
// 200, else an error saying why in one line.
func RunHealthcheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	h := Healthcheck{Proc: "/proc"}
	f := cmdflag.New("healthcheck", stderr)
	f.StringVar(&h.URL, "url", "", "the URL to ask (default: http://127.0.0.1:<the process's port>"+healthPath+")")
	f.StringVar(&h.Role, "role", "", "the process's command (serve, gateway, auth, converter, notification), when it is not found in /proc")
	f.DurationVar(&h.Timeout, "timeout", 5*time.Second, "time the process has to answer; more than /readyz's own 3 s, so that it can name a failing check")
	if err := f.Parse(args); err != nil {
		return err
	}
	url, err := h.Check(ctx)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	fmt.Fprintf(stdout, "healthy: %s\n", url)
	return nil
}

// Check asks the process and returns the URL it asked; the error says
// why the process is not healthy.
func (h Healthcheck) Check(ctx context.Context) (string, error) {
	urls, err := h.urls()
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, h.Timeout)
	defer cancel()
	var refused []string
	for _, u := range urls {
		err := get(ctx, u)
		var op *net.OpError
		if len(urls) > 1 && errors.As(err, &op) && op.Op == "dial" && ctx.Err() == nil {
			refused = append(refused, u) // no process there: try the next address
			continue
		}
		return u, err
	}
	return "", fmt.Errorf("no process answers on %s", strings.Join(refused, ", "))
}

// get asks url, directly (no proxy, no redirect), and wants 200.
func get(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	c := &http.Client{
		Transport:     &http.Transport{Proxy: nil, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, cmdio.OneLine(string(body)))
	}
	return nil
}

// urls are the URLs to ask, in order: the one given, else the address of
// the process found or named, else every address a process of this binary
// may listen on (the set ones first), the first that answers deciding.
func (h Healthcheck) urls() ([]string, error) {
	if h.URL != "" {
		return []string{h.URL}, nil
	}
	name, args := h.Role, []string(nil)
	if name == "" {
		name, args = findProcess(h.Proc)
	}
	if name != "" {
		p, ok := LookupProcess(name)
		if !ok {
			return nil, cmdflag.Usagef("healthcheck: unknown role %q", name)
		}
		return []string{healthURL(listenAddr(p, args))}, nil
	}
	var addrs []string
	for _, k := range []string{"MP3CONVERTER_ADDR", "MP3CONVERTER_HEALTH_ADDR"} {
		if v := os.Getenv(k); v != "" {
			addrs = append(addrs, v)
		}
	}
	for _, p := range Processes {
		addrs = append(addrs, listenAddr(p, nil))
	}
	var urls []string
	for _, a := range addrs {
		if u := healthURL(a); !slices.Contains(urls, u) {
			urls = append(urls, u)
		}
	}
	return urls, nil
}

// listenAddr is the address process p listens on when started with args
// in this environment: its --addr, or its --health-addr.
func listenAddr(p Process, args []string) string {
	var c Config
	f := cmdflag.New(p.Name, io.Discard)
	addSettings(f, &c, p.Name, p.uses)
	if f.Parse(args) != nil {
		// Flags of another version: the environment and defaults only.
		c = Config{}
		f = cmdflag.New(p.Name, io.Discard)
		addSettings(f, &c, p.Name, p.uses)
	}
	if p.serves() {
		return c.Addr
	}
	return c.HealthAddr
}

// healthURL is the URL of healthPath on a listen address, through loopback
// when it listens on every interface.
func healthURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		host, port = "", addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + healthPath
}

// findProcess returns the command and flags of the oldest other process
// of this binary running a role (PID 1 in a container), or "".
func findProcess(proc string) (name string, args []string) {
	entries, err := os.ReadDir(proc)
	if err != nil {
		return "", nil
	}
	best := -1
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() || (best >= 0 && pid > best) {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join(proc, e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		argv := strings.Split(string(bytes.TrimRight(cmdline, "\x00")), "\x00")
		if len(argv) < 2 || filepath.Base(argv[0]) != "mp3converter" {
			continue
		}
		if _, ok := LookupProcess(argv[1]); ok {
			best, name, args = pid, argv[1], argv[2:]
		}
	}
	return name, args
}
