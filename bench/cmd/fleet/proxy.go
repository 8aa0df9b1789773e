package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// countersPath is where the proxy reports its counters (not counted).
const countersPath = "/__fleet_counters"

// runProxy is the counting reverse proxy in front of versitygw, run as a
// process of its own (this binary with -proxy-to), so that its CPU is not
// the simulated hosts' and both ends of the hosts' connections (up to
// 2,048 kept open) do not share one descriptor table. It prints its
// address and serves until its parent dies.
func runProxy(target string) error {
	u, err := url.Parse(target)
	if err != nil {
		return err
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns, t.MaxIdleConnsPerHost = 512, 512
	rp.Transport = t
	rp.ErrorLog = nil
	var c counters
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Println(ln.Addr().String())
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == countersPath {
			json.NewEncoder(w).Encode(c.snap())
			return
		}
		cw := &countingWriter{ResponseWriter: w, n: &c.bodyBytes, status: http.StatusOK}
		rp.ServeHTTP(cw, r)
		c.count(r, cw.status)
	})}
	return srv.Serve(ln)
}

// proxyProcess is the running proxy, seen from the simulation.
type proxyProcess struct {
	cmd *exec.Cmd
	url string
}

// startProxy runs this binary as a proxy to target.
func startProxy(target string) (*proxyProcess, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "-proxy-to", target)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the proxy: %w", err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("the proxy did not start: %w", err)
	}
	return &proxyProcess{cmd: cmd, url: "http://" + strings.TrimSpace(line)}, nil
}

// snap asks the proxy for its counters.
func (p *proxyProcess) snap() (snapshot, error) {
	resp, err := http.Get(p.url + countersPath)
	if err != nil {
		return snapshot{}, err
	}
	defer resp.Body.Close()
	var s snapshot
	err = json.NewDecoder(resp.Body).Decode(&s)
	s.At = time.Now()
	return s, err
}

func (p *proxyProcess) stop() {
	p.cmd.Process.Kill()
	p.cmd.Wait()
}
