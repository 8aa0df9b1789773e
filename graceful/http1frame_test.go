package graceful

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// frame feeds a request stream and then a response stream, the latter in
// pieces of at most chunk bytes, and returns the response stream as the
// client would receive it.
func frame(f *http1Framer, requests, responses string, mark bool, chunk int) string {
	f.readRequest([]byte(requests))
	var out strings.Builder
	for rest := responses; len(rest) > 0; {
		n := min(chunk, len(rest))
		piece := rest[:n]
		rest = rest[n:]
		last := 0
		for _, at := range f.wroteResponse([]byte(piece), mark) {
			out.WriteString(piece[last:at] + closeHeader)
			last = at
		}
		out.WriteString(piece[last:])
	}
	return out.String()
}

// TestHTTP1Framer checks where responses are marked, and that nothing
// else changes, for each kind of HTTP/1 framing.
func TestHTTP1Framer(t *testing.T) {
	const c = closeHeader
	cases := []struct {
		name      string
		requests  string
		responses string
		want      string // with marking on; "" means unchanged
		mode      frameMode
		closeSent bool
	}{
		{
			name:      "content-length",
			requests:  "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
			responses: "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody",
			want:      "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n" + c + "\r\nbody",
			closeSent: true,
		},
		{
			name:      "pipelined HEAD then GET",
			requests:  "HEAD / HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n",
			responses: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
			want:      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n" + c + "\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n" + c + "\r\nhello",
			closeSent: true,
		},
		{
			name:      "POST with a body, 100 Continue, then the final response",
			requests:  "POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
			responses: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
			want:      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n" + c + "\r\nok",
			closeSent: true,
		},
		{
			name:      "103 Early Hints",
			requests:  "GET / HTTP/1.1\r\n\r\n",
			responses: "HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
			want:      "HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n" + c + "\r\n",
			closeSent: true,
		},
		{
			name:      "204 and 304 have no body",
			requests:  "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\n\r\n",
			responses: "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
			want:      "HTTP/1.1 204 No Content\r\n" + c + "\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n" + c + "\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n" + c + "\r\nx",
			closeSent: true,
		},
		{
			name:      "chunked with extensions and trailers; the body looks like a response",
			requests:  "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n",
			responses: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1a;x=y\r\nHTTP/1.1 200 OK\r\n\r\nXXXXXX\r\n0\r\nTrailer: t\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
			want:      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n" + c + "\r\n1a;x=y\r\nHTTP/1.1 200 OK\r\n\r\nXXXXXX\r\n0\r\nTrailer: t\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n" + c + "\r\n",
			closeSent: true,
		},
		{
			name:      "already Connection: close",
			requests:  "GET / HTTP/1.1\r\n\r\n",
			responses: "HTTP/1.1 200 OK\r\nconnection: Keep-Alive, Close\r\nContent-Length: 2\r\n\r\nok",
			closeSent: true,
		},
		{
			name:      "101 switches protocols: nothing after it is touched",
			requests:  "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
			responses: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
			mode:      frameTunnel,
		},
		{
			name:      "CONNECT tunnel",
			requests:  "CONNECT a:443 HTTP/1.1\r\n\r\n",
			responses: "HTTP/1.1 200 OK\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
			mode:      frameTunnel,
		},
		{
			name:      "TLS",
			requests:  "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
			responses: "\x16\x03\x03\x00\x7a\x02\x00\x00\x76HTTP/1.1 200 OK\r\n\r\n",
			mode:      frameUnknown,
		},
		{
			name:      "h2c prior knowledge",
			requests:  "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
			responses: "\x00\x00\x00\x04\x00\x00\x00\x00\x00",
			mode:      frameUnknown,
		},
		{
			name:      "HTTP/1.0 is left alone",
			requests:  "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
			responses: "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok",
		},
		{
			name:      "body until close: later bytes are body",
			requests:  "GET / HTTP/1.1\r\n\r\n",
			responses: "HTTP/1.1 200 OK\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
			want:      "HTTP/1.1 200 OK\r\n" + c + "\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
			closeSent: true,
		},
		{
			name:      "bare line feeds",
			requests:  "GET / HTTP/1.1\nHost: a\n\n",
			responses: "HTTP/1.1 200 OK\nContent-Length: 2\n\nok",
			want:      "HTTP/1.1 200 OK\nContent-Length: 2\n" + c + "\nok",
			closeSent: true,
		},
		{
			name:      "conflicting Content-Length",
			requests:  "GET / HTTP/1.1\r\n\r\n",
			responses: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
			mode:      frameUnknown,
		},
		{
			name:      "not HTTP at all",
			requests:  "hello\r\n",
			responses: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
			mode:      frameUnknown,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.want
			if want == "" {
				want = tc.responses
			}
			var f http1Framer
			if got := frame(&f, tc.requests, tc.responses, true, len(tc.responses)); got != want {
				t.Errorf("marked:\n got %q\nwant %q", got, want)
			}
			if f.mode != tc.mode || f.closeSent != tc.closeSent {
				t.Errorf("mode %d closeSent %t, want %d %t", f.mode, f.closeSent, tc.mode, tc.closeSent)
			}
			var g http1Framer
			if got := frame(&g, tc.requests, tc.responses, false, len(tc.responses)); got != tc.responses {
				t.Errorf("not marking changed the bytes:\n got %q\nwant %q", got, tc.responses)
			}
			// In small pieces: the same result wherever the blank line
			// is not split (a header ending across two writes is left
			// unmarked), and never a changed body.
			for chunk := 1; chunk < 8; chunk++ {
				var h http1Framer
				got := frame(&h, tc.requests, tc.responses, true, chunk)
				if strings.ReplaceAll(got, closeHeader, "") != strings.ReplaceAll(want, closeHeader, "") {
					t.Errorf("in pieces of %d:\n got %q\nwant %q", chunk, got, want)
				}
				if h.mode != tc.mode {
					t.Errorf("in pieces of %d: mode %d, want %d", chunk, h.mode, tc.mode)
				}
			}
		})
	}
}

// TestHTTP1FramerSendfile: body bytes sent without being seen (ReadFrom)
// are followed inside a Content-Length body, and lose track elsewhere.
func TestHTTP1FramerSendfile(t *testing.T) {
	var f http1Framer
	f.readRequest([]byte("GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n"))
	f.wroteResponse([]byte("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"), false)
	f.sentBody(10)
	if at := f.wroteResponse([]byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), true); len(at) != 1 || f.mode != frameHTTP {
		t.Fatalf("after a sendfile body: insert at %d, mode %d", at, f.mode)
	}
	f.sentBody(1)
	if f.mode != frameUnknown {
		t.Errorf("a body outside any response did not make the framer give up")
	}
}

// FuzzHTTP1Framer builds a sequence of valid responses from the fuzzer's
// bytes, marks them in pieces of the fuzzer's size, and checks with
// net/http's own parser that every status and body is unchanged and that
// only responses the framer marked say "Connection: close".
func FuzzHTTP1Framer(f *testing.F) {
	f.Add([]byte("\x00\x01\x02\x03\x04\x05"), []byte("hello\r\n\r\nHTTP/1.1 200 OK\r\n"), uint8(3))
	f.Add([]byte("\x10\x21\x32\x43"), []byte("0\r\n\r\n"), uint8(1))
	f.Add([]byte("\xff\xfe\xfd"), []byte{}, uint8(200))
	f.Fuzz(func(t *testing.T, shape, body []byte, chunk uint8) {
		if len(shape) > 16 {
			shape = shape[:16]
		}
		statuses := []int{200, 201, 204, 304, 404, 500, 100}
		var reqs, resps strings.Builder
		type want struct {
			method, body string
			status       int
		}
		var wants []want
		for i, s := range shape {
			method := "GET"
			if s&0x80 != 0 {
				method = "HEAD"
			}
			status := statuses[int(s)%len(statuses)]
			b := string(body[min(i, len(body)):min(i+int(s>>4), len(body))])
			fmt.Fprintf(&reqs, "%s /%d HTTP/1.1\r\nHost: x\r\n\r\n", method, i)
			if status == 100 {
				resps.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
				status = 200
			}
			if status == 204 || status == 304 {
				b = ""
			}
			fmt.Fprintf(&resps, "HTTP/1.1 %d X\r\n", status)
			if s&0x40 != 0 && status != 204 && status != 304 {
				resps.WriteString("Transfer-Encoding: chunked\r\n\r\n")
				if method != "HEAD" {
					for rest := b; len(rest) > 0; {
						n := min(len(rest), 1+int(s&0x7))
						fmt.Fprintf(&resps, "%x\r\n%s\r\n", n, rest[:n])
						rest = rest[n:]
					}
					resps.WriteString("0\r\n\r\n")
				}
			} else {
				fmt.Fprintf(&resps, "Content-Length: %d\r\n\r\n", len(b))
				if method != "HEAD" {
					resps.WriteString(b)
				}
			}
			if method == "HEAD" {
				b = ""
			}
			wants = append(wants, want{method, b, status})
		}
		var fr http1Framer
		out := frame(&fr, reqs.String(), resps.String(), true, 1+int(chunk))
		inBody := bytes.Contains(body, []byte("Connection"))
		if !inBody && strings.ReplaceAll(out, closeHeader, "") != resps.String() {
			t.Fatalf("bytes other than the marks changed:\n%q\n%q", out, resps.String())
		}
		if fr.mode != frameHTTP {
			t.Fatalf("lost track of valid responses (mode %d)", fr.mode)
		}
		r := bufio.NewReader(strings.NewReader(out))
		for i, w := range wants {
			resp, err := http.ReadResponse(r, &http.Request{Method: w.method})
			for err == nil && resp.StatusCode == http.StatusContinue {
				resp, err = http.ReadResponse(r, &http.Request{Method: w.method})
			}
			if err != nil {
				t.Fatalf("response %d: %v\n%q", i, err, out)
			}
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || string(got) != w.body || resp.StatusCode != w.status {
				t.Fatalf("response %d: status %d body %q (%v), want %d %q", i, resp.StatusCode, got, err, w.status, w.body)
			}
		}
		if rest, _ := io.ReadAll(r); len(rest) != 0 {
			t.Fatalf("bytes left after the last response: %q", rest)
		}
		var whole http1Framer
		all := frame(&whole, reqs.String(), resps.String(), true, len(resps.String()))
		if n := strings.Count(all, closeHeader); !inBody && n != len(wants) {
			t.Fatalf("%d of %d responses written whole were marked", n, len(wants))
		}
	})
}

// BenchmarkHTTP1Framer measures following one keep-alive request and its
// response, as a Conn does for every request it carries.
func BenchmarkHTTP1Framer(b *testing.B) {
	req := []byte("GET /api/items?id=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: Go-http-client/1.1\r\nAccept-Encoding: gzip\r\n\r\n")
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nDate: Sun, 06 Dec 2026 01:30:11 GMT\r\nContent-Length: 2\r\n\r\nok")
	var f http1Framer
	b.SetBytes(int64(len(req) + len(resp)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		f.readRequest(req)
		if f.wroteResponse(resp, false) != nil || f.mode != frameHTTP {
			b.Fatal("lost track")
		}
	}
}
