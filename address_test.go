package overseer

import (
	"path/filepath"
	"runtime"
	"testing"
)

func TestAddressParse(t *testing.T) {
	good := []struct{ in, network, address string }{
		{":3000", "tcp", ":3000"},
		{"127.0.0.1:0", "tcp", "127.0.0.1:0"},
		{"[::1]:8080", "tcp", "[::1]:8080"},
		{"", "tcp", ""},
		{"tcp://:80", "tcp", ":80"},
		{"tcp4://127.0.0.1:80", "tcp4", "127.0.0.1:80"},
		{"tcp6://[::1]:80", "tcp6", "[::1]:80"},
		{"udp://127.0.0.1:53", "udp", "127.0.0.1:53"},
		{"udp4://:53", "udp4", ":53"},
		{"udp6://[::]:53", "udp6", "[::]:53"},
		{"unix:///run/app.sock", "unix", "/run/app.sock"},
		{"unix:/run/app.sock", "unix", "/run/app.sock"},
		{"unix:app.sock", "unix", "app.sock"},
		{"unix:@app", "unix", "@app"},
		{"unix:/run/app.sock?name=api", "unix", "/run/app.sock"},
		{":80?name=web", "tcp", ":80"},
	}
	for _, g := range good {
		a, err := parseAddress(g.in)
		if err != nil {
			t.Errorf("parseAddress(%q): %v", g.in, err)
			continue
		}
		if a.network != g.network || a.address != g.address || a.raw != g.in {
			t.Errorf("parseAddress(%q) = %+v, want %s %s", g.in, a, g.network, g.address)
		}
		if want := g.network[:3] != "udp"; a.stream() != want {
			t.Errorf("parseAddress(%q).stream() = %v", g.in, a.stream())
		}
	}
	for _, in := range []string{"3000", "http://:80", "tcp://nohost", "unix://host/x.sock", "unix:", "unix://", "unix:@", "sctp://:1", ":80?name=", ":80?name=a:b"} {
		if a, err := parseAddress(in); err == nil {
			t.Errorf("parseAddress(%q) = %+v, want an error", in, a)
		}
	}
	if err := validateAddresses([]string{":1", "udp://:2", "bad"}); err == nil {
		t.Error("validateAddresses accepted a bad entry")
	}
	a, _ := parseAddress("unix:@x")
	if a.abstract() != (runtime.GOOS == "linux") {
		t.Errorf("abstract() = %v on %s", a.abstract(), runtime.GOOS)
	}
}

func TestAddressListenAll(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s.sock")
	ls, ps, err := listenAll([]string{"127.0.0.1:0", "udp://127.0.0.1:0", "unix:" + sock})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, l := range ls {
			l.Close()
		}
		for _, p := range ps {
			p.Close()
		}
	}()
	if len(ls) != 2 || len(ps) != 1 {
		t.Fatalf("got %d listeners and %d packet conns, want 2 and 1", len(ls), len(ps))
	}
	if ls[1].Addr().String() != sock {
		t.Errorf("unix listener at %s, want %s", ls[1].Addr(), sock)
	}
	if _, _, err := listenAll([]string{"127.0.0.1:0", "unix:/nonexistent-dir/x.sock"}); err == nil {
		t.Error("listenAll succeeded on an impossible path")
	}
}
