package app

import (
	"bytes"
	"cmp"
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
// container's HEALTHCHECK: the image has no shell and no curl. It asks,
// in this order, the first that applies:
//
//   - the URL given (--url);
//   - the address of the role given (--role), from the environment or the
//     role's default;
//   - the addresses the environment sets, MP3CONVERTER_ADDR and
//     MP3CONVERTER_HEALTH_ADDR, as a container's settings (Compose,
//     Kubernetes) set them;
//   - with none of those, this container's process, found in /proc: PID 1
//     when it is this binary running a role (the image's ENTRYPOINT), or
//     the child of PID 1 that is, when PID 1 is an init running this binary
//     (docker run --init, tini). It reads the command and flags that process
//     was started with and asks the address it listens on (--addr, or
//     --health-addr for converter and notification).
//
// It never asks anything else: an address that is set and where nothing
// answers is unhealthy, and on a host, where PID 1 is the system's init,
// no other process of this binary is taken for the one meant (another
// serve on the same host answering on a default port said "healthy"
// before).
type Healthcheck struct {
	URL     string        // the URL to ask; "" to find the address
	Role    string        // the process's command, when it cannot be found in Proc
	Timeout time.Duration // for the whole check
	Proc    string        // the /proc to look in; "/proc" if empty
}

// healthPath is asked by default: the process answers and its stores and
// queue are reachable. /healthz would say only that it answers.
const healthPath = "/readyz"

// addrEnv are the environment variables of the addresses a role listens
// on: --addr's (serve, gateway, auth) and --health-addr's (converter,
// notification).
var addrEnv = []string{"MP3CONVERTER_ADDR", "MP3CONVERTER_HEALTH_ADDR"}

// RunHealthcheck is the healthcheck command: nil when the process answers
// 200, else an error saying why in one line.
func RunHealthcheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	h := Healthcheck{Proc: "/proc"}
	f := cmdflag.New("healthcheck", stderr)
	f.StringVar(&h.URL, "url", "", "the URL to ask (default: http://127.0.0.1:<port>"+healthPath+", the port of --role, or of "+
		strings.Join(addrEnv, " or ")+", or else of this container's process, PID 1)")
	f.StringVar(&h.Role, "role", "", "the process's command (serve, gateway, auth, converter, notification), when it is not this container's PID 1")
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

// target is a URL to ask and where it came from, for the messages.
type target struct{ url, from string }

// Check asks the process and returns the URL it asked; the error says
// why the process is not healthy, naming the address asked and where it
// came from. It is a usage error for an unknown --role.
func (h Healthcheck) Check(ctx context.Context) (string, error) {
	targets, err := h.targets()
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, h.Timeout)
	defer cancel()
	var refused []string
	for _, t := range targets {
		err := get(ctx, t.url)
		if op, ok := errors.AsType[*net.OpError](err); ok && op.Op == "dial" && ctx.Err() == nil {
			// Nothing listens there: try the next address set, if any.
			refused = append(refused, fmt.Sprintf("%s (%s): %v", t.url, t.from, op.Err))
			continue
		}
		return t.url, err
	}
	return "", fmt.Errorf("nothing answers at %s", strings.Join(refused, "; "))
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

// targets are the URLs to ask, in order (see Healthcheck).
func (h Healthcheck) targets() ([]target, error) {
	if h.URL != "" {
		return []target{{h.URL, "--url"}}, nil
	}
	if h.Role != "" {
		p, ok := LookupProcess(h.Role)
		if !ok {
			return nil, cmdflag.Usagef("healthcheck: unknown role %q", h.Role)
		}
		return []target{{healthURL(listenAddr(p, nil)), "--role " + h.Role}}, nil
	}
	var ts []target
	for _, k := range addrEnv {
		if v := os.Getenv(k); v != "" && !slices.ContainsFunc(ts, func(t target) bool { return t.url == healthURL(v) }) {
			ts = append(ts, target{healthURL(v), k})
		}
	}
	if len(ts) > 0 {
		return ts, nil
	}
	proc := cmp.Or(h.Proc, "/proc")
	pid, name, args, err := containerProcess(proc)
	if err != nil {
		return nil, err
	}
	p, _ := LookupProcess(name)
	return []target{{healthURL(listenAddr(p, args)), fmt.Sprintf("process %d, mp3converter %s", pid, name)}}, nil
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

// containerProcess returns the PID, command and flags of this
// container's process of this binary: PID 1 when it is one running a
// role, or else, when PID 1 runs this binary behind an init (docker run
// --init, tini), the lowest-numbered child of PID 1 that is one. Any
// other process, such as one on a host (whose PID 1 is the system's
// init), is someone else's: the error says so and what to give instead.
func containerProcess(proc string) (pid int, name string, args []string, err error) {
	pid1, err := cmdline(proc, 1)
	if err != nil {
		return 0, "", nil, fmt.Errorf("no address set (%s, --url or --role) and PID 1 unknown: %w", strings.Join(addrEnv, ", "), err)
	}
	if name, args, ok := roleOf(pid1); ok {
		return 1, name, args, nil
	}
	notOurs := fmt.Errorf("no address set (%s, --url or --role), and PID 1 (%s) is not mp3converter running a role: "+
		"on a host, or in a pod whose PID 1 is another's, name the address", strings.Join(addrEnv, ", "), cmdio.OneLine(strings.Join(pid1, " ")))
	if !slices.ContainsFunc(pid1, func(a string) bool { return filepath.Base(a) == "mp3converter" }) {
		return 0, "", nil, notOurs
	}
	entries, err := os.ReadDir(proc)
	if err != nil {
		return 0, "", nil, err
	}
	var pids []int
	for _, e := range entries {
		if n, err := strconv.Atoi(e.Name()); err == nil && n != 1 && n != os.Getpid() && parentOf(proc, n) == 1 {
			pids = append(pids, n)
		}
	}
	slices.Sort(pids)
	for _, n := range pids {
		argv, err := cmdline(proc, n)
		if err != nil {
			continue
		}
		if name, args, ok := roleOf(argv); ok {
			return n, name, args, nil
		}
	}
	return 0, "", nil, notOurs
}

// roleOf reads a command line of this binary running a role.
func roleOf(argv []string) (name string, args []string, ok bool) {
	if len(argv) < 2 || filepath.Base(argv[0]) != "mp3converter" {
		return "", nil, false
	}
	if _, ok := LookupProcess(argv[1]); !ok {
		return "", nil, false
	}
	return argv[1], argv[2:], true
}

// cmdline is process pid's command line.
func cmdline(proc string, pid int) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(proc, strconv.Itoa(pid), "cmdline"))
	if err != nil {
		return nil, err
	}
	return strings.Split(string(bytes.TrimRight(b, "\x00")), "\x00"), nil
}

// parentOf is process pid's parent's PID (PPid in its status), or -1.
func parentOf(proc string, pid int) int {
	b, err := os.ReadFile(filepath.Join(proc, strconv.Itoa(pid), "status"))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "PPid:"); ok {
			if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
				return n
			}
		}
	}
	return -1
}
