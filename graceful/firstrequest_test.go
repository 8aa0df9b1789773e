package graceful

import "testing"

func TestFirstRequest(t *testing.T) {
	cases := []struct {
		name     string
		pieces   []string
		complete bool
	}{
		{"whole CRLF header", []string{"GET / HTTP/1.1\r\nHost: x\r\n\r\n"}, true},
		{"header without its blank line", []string{"GET / HTTP/1.1\r\nHost: x\r\n"}, false},
		{"blank line in a later piece", []string{"GET / HTTP/1.1\r\nHost: x\r\n", "\r\n"}, true},
		{"split inside the line end", []string{"POST / HTTP/1.1\r\nHost: x\r", "\n\r", "\nbody"}, true},
		{"bare line feeds", []string{"GET / HTTP/1.0\n\n"}, true},
		{"request line only", []string{"GET / HTTP/1.1\r\n"}, false},
		{"not HTTP: TLS", []string{"\x16\x03\x01\x02\x00"}, true},
		{"not HTTP: lower case", []string{"ping"}, true},
		{"nothing read", nil, false},
	}
	for _, c := range cases {
		var f firstRequest
		for _, p := range c.pieces {
			f.scan([]byte(p))
		}
		if got := f.complete(); got != c.complete {
			t.Errorf("%s: complete = %v, want %v", c.name, got, c.complete)
		}
	}
}
