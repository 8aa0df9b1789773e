package sockets

import (
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
		{"unix:/run/app.sock?mode=0660", "unix", "/run/app.sock"},
		{"unix:/run/app.sock?name=api&mode=600", "unix", "/run/app.sock"},
	}
	for _, g := range good {
		a, err := parse(g.in)
		if err != nil {
			t.Errorf("parse(%q): %v", g.in, err)
			continue
		}
		if a.network != g.network || a.address != g.address || a.raw != g.in {
			t.Errorf("parse(%q) = %+v, want %s %s", g.in, a, g.network, g.address)
		}
		if want := g.network[:3] != "udp"; a.stream() != want {
			t.Errorf("parse(%q).stream() = %v", g.in, a.stream())
		}
	}
	for _, in := range []string{"3000", "http://:80", "tcp://nohost", "unix://host/x.sock", "unix:", "unix://", "unix:@", "sctp://:1", ":80?name=", ":80?name=a:b",
		":80?mode=0660", "unix:@x?mode=0600", "unix:/x.sock?mode=", "unix:/x.sock?mode=0", "unix:/x.sock?mode=0999", "unix:/x.sock?mode=1777", "unix:/x.sock?owner=me"} {
		if a, err := parse(in); err == nil {
			t.Errorf("parse(%q) = %+v, want an error", in, a)
		}
	}
	if l, err := Parse([]string{":1", "udp://:2", "bad"}); err == nil {
		t.Errorf("Parse accepted a bad entry: %+v", l)
	}
	if l, err := Parse(nil); err != nil || l == nil || len(l) != 0 {
		t.Errorf("Parse(nil) = %#v, %v; want an empty List", l, err)
	}
	if a, _ := parse("unix:/x.sock?name=api&mode=0640"); a.name != "api" || a.mode != 0o640 {
		t.Errorf("parameters parsed as name %q mode %o, want api 640", a.name, a.mode)
	}
	a, _ := parse("unix:@x")
	if a.abstract() != (runtime.GOOS == "linux") {
		t.Errorf("abstract() = %v on %s", a.abstract(), runtime.GOOS)
	}
}
