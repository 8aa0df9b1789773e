package graceful

import "bytes"

// http1Framer follows the HTTP/1 messages on one server connection: the
// requests the server reads and the responses it writes. It finds where
// each response header ends, so that a response can be marked
// "Connection: close" there during a drain, and it never touches a byte
// of a body.
//
// It knows HTTP/1 framing exactly: the status line, 1xx interim responses,
// responses without a body (to HEAD, 204, 304), Content-Length,
// chunked bodies with trailers, bodies that end with the connection,
// pipelined requests (the method of each request is queued, in order, for
// the response that answers it), and the switch to another protocol (101,
// or a 2xx answer to CONNECT). Anything it does not recognise (TLS, HTTP/2,
// a malformed or oversized line) makes it give up on the connection for
// good, and the connection is then left exactly as it would be without it.
//
// It is not safe for concurrent use; Conn guards it with its mutex.
type http1Framer struct {
	mode    frameMode
	req     msgParser // client → server
	resp    msgParser // server → client
	methods []methodKind
	// closeSent: a final response whose header carries "Connection:
	// close" (its own or added here) has been written, or its body ends
	// with the connection: the client will not send another request.
	closeSent bool
}

// frameMode is what an http1Framer knows about its connection.
type frameMode uint8

const (
	frameHTTP    frameMode = iota // following HTTP/1 messages
	frameUnknown                  // not HTTP/1, or lost track: leave it alone
	frameTunnel                   // switched protocols (101, CONNECT): no longer HTTP
)

// methodKind is what a response needs to know about its request.
type methodKind uint8

const (
	methodOther methodKind = iota
	methodHEAD
	methodCONNECT
)

// msgState is where a msgParser is within a message.
type msgState uint8

const (
	stStart        msgState = iota // before a start line (empty lines are skipped)
	stHeader                       // in the header, after the start line
	stBody                         // in a Content-Length body: remain bytes left
	stChunkSize                    // at a chunk-size line
	stChunkData                    // in chunk data: remain bytes left
	stChunkDataEnd                 // at the CRLF after chunk data
	stTrailer                      // in the trailer, after the last chunk
	stUntilClose                   // in a body that ends with the connection
)

// msgParser follows one direction of the connection.
type msgParser struct {
	state  msgState
	line   []byte // the part of the current line seen in earlier calls
	remain int64  // bytes left in a body or chunk

	// The message being parsed.
	status        int   // response status code
	http11        bool  // HTTP/1.1 or later (the start line says so)
	contentLength int64 // -1 when absent
	chunked       bool
	closeDelim    bool // a response body that ends with the connection (Transfer-Encoding other than chunked)
	connClose     bool // a Connection header with the "close" token
	method        methodKind
}

// Limits beyond which the framer gives up (the connection is left alone).
const (
	maxFrameLine = 16 << 10 // a start, header or chunk-size line
	maxPipelined = 64       // requests read but not answered
)

// closeHeader is what a marked response gets before the end of its header.
const closeHeader = "Connection: close\r\n"

// readRequest follows bytes the server read from the client.
func (f *http1Framer) readRequest(b []byte) {
	_ = f.feed(&f.req, b, false, false)
}

// wroteResponse follows bytes the server is about to write to the client.
// With mark, each final HTTP/1.1 response whose header ends in b and does
// not already say "Connection: close" is to be marked: the returned
// offsets, in increasing order, are where closeHeader goes in b (each at
// the start of the blank line that ends a header). It returns nil when
// nothing is to be inserted.
func (f *http1Framer) wroteResponse(b []byte, mark bool) []int {
	return f.feed(&f.resp, b, true, mark)
}

// sentBody follows n body bytes the server sent without showing them (a
// sendfile from ReadFrom). Anywhere but inside a Content-Length body with
// at least n bytes left, the framer loses track and gives up.
func (f *http1Framer) sentBody(n int64) {
	if f.mode != frameHTTP || n == 0 {
		return
	}
	p := &f.resp
	if p.state != stBody || p.remain < n {
		if p.state != stUntilClose {
			f.giveUp()
		}
		return
	}
	p.remain -= n
	if p.remain == 0 {
		p.state = stStart
	}
}

// giveUp stops following the connection for good.
func (f *http1Framer) giveUp() {
	f.mode = frameUnknown
	f.req.line, f.resp.line, f.methods = nil, nil, nil
}

// feed advances p over b and returns where to insert closeHeader in b.
func (f *http1Framer) feed(p *msgParser, b []byte, response, mark bool) (insert []int) {
	for i := 0; i < len(b) && f.mode == frameHTTP; {
		switch p.state {
		case stBody, stChunkData:
			n := min(int64(len(b)-i), p.remain)
			p.remain -= n
			i += int(n)
			if p.remain == 0 {
				if p.state == stBody {
					p.state = stStart
				} else {
					p.state = stChunkDataEnd
				}
			}
		case stUntilClose:
			i = len(b)
		default:
			j := bytes.IndexByte(b[i:], '\n')
			if j < 0 {
				if len(p.line)+len(b)-i > maxFrameLine {
					f.giveUp()
					return nil
				}
				p.line = append(p.line, b[i:]...)
				i = len(b)
				continue
			}
			start := i - len(p.line) // negative: the line began in an earlier call
			line := b[i : i+j]
			if len(p.line) > 0 {
				line = append(p.line, line...)
				if len(line) > maxFrameLine {
					f.giveUp()
					return nil
				}
			}
			i += j + 1
			line = bytes.TrimSuffix(line, []byte{'\r'})
			if f.line(p, line, response) && mark && start >= 0 {
				insert = append(insert, start)
				f.closeSent = true
			}
			p.line = p.line[:0]
		}
	}
	return insert
}

// line takes one complete line (without its line end) in p's direction.
// For a response, it reports whether the line ends a header that is to
// be marked.
func (f *http1Framer) line(p *msgParser, line []byte, response bool) (markHere bool) {
	switch p.state {
	case stStart:
		if len(line) == 0 {
			return false // empty lines before a message are tolerated
		}
		*p = msgParser{state: stHeader, line: p.line, contentLength: -1}
		var ok bool
		if response {
			ok = p.statusLine(line)
		} else {
			ok = f.requestLine(p, line)
		}
		if !ok {
			f.giveUp()
		}
	case stHeader:
		if len(line) == 0 {
			return f.endHeader(p, response)
		}
		if !p.headerLine(line, response) {
			f.giveUp()
		}
	case stChunkSize:
		size, ok := chunkSize(line)
		switch {
		case !ok:
			f.giveUp()
		case size == 0:
			p.state = stTrailer
		default:
			p.state, p.remain = stChunkData, size
		}
	case stChunkDataEnd:
		if len(line) != 0 {
			f.giveUp()
			return false
		}
		p.state = stChunkSize
	case stTrailer:
		if len(line) == 0 {
			p.state = stStart
		}
	}
	return false
}

// requestLine parses "METHOD target HTTP/1.x" and queues the method.
func (f *http1Framer) requestLine(p *msgParser, line []byte) bool {
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 || !isToken(line[:sp]) || len(line) < sp+1+10 {
		return false
	}
	version := line[len(line)-9:] // " HTTP/1.x"
	minor := version[8]
	if !bytes.HasPrefix(version, []byte(" HTTP/1.")) || minor < '0' || minor > '9' {
		return false
	}
	p.http11 = minor >= '1'
	switch string(line[:sp]) {
	case "HEAD":
		p.method = methodHEAD
	case "CONNECT":
		p.method = methodCONNECT
	}
	if len(f.methods) >= maxPipelined {
		return false
	}
	f.methods = append(f.methods, p.method)
	return true
}

// statusLine parses "HTTP/1.x NNN reason".
func (p *msgParser) statusLine(line []byte) bool {
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return false
	}
	if line[7] < '0' || line[7] > '9' || (len(line) > 12 && line[12] != ' ') {
		return false
	}
	code := 0
	for _, ch := range line[9:12] {
		if ch < '0' || ch > '9' {
			return false
		}
		code = code*10 + int(ch-'0')
	}
	if code < 100 {
		return false
	}
	p.status, p.http11 = code, line[7] >= '1'
	return true
}

// headerLine takes one header field of the current message.
func (p *msgParser) headerLine(line []byte, response bool) bool {
	if line[0] == ' ' || line[0] == '\t' {
		return true // obsolete line folding: continues a value we do not need
	}
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 {
		return false
	}
	name, value := line[:colon], bytes.TrimSpace(line[colon+1:])
	switch {
	case asciiEqualFold(name, "content-length"):
		n, ok := parseDecimal(value)
		if !ok || (p.contentLength >= 0 && p.contentLength != n) {
			return false
		}
		p.contentLength = n
	case asciiEqualFold(name, "transfer-encoding"):
		last := value
		if k := bytes.LastIndexByte(value, ','); k >= 0 {
			last = bytes.TrimSpace(value[k+1:])
		}
		if asciiEqualFold(last, "chunked") {
			p.chunked, p.closeDelim = true, false
		} else if response {
			p.chunked, p.closeDelim = false, true
		} else {
			return false // a request the server rejects
		}
	case asciiEqualFold(name, "connection"):
		for _, tok := range bytes.Split(value, []byte{','}) {
			if asciiEqualFold(bytes.TrimSpace(tok), "close") {
				p.connClose = true
			}
		}
	}
	return true
}

// endHeader moves past the blank line that ends a header. For a response,
// it reports whether the header may be marked "Connection: close": a final
// HTTP/1.1 response that does not say it already.
func (f *http1Framer) endHeader(p *msgParser, response bool) (markHere bool) {
	if !response {
		switch {
		case p.chunked:
			p.state = stChunkSize
		case p.contentLength > 0:
			p.state, p.remain = stBody, p.contentLength
		default:
			p.state = stStart
		}
		return false
	}
	if p.status < 200 && p.status != 101 {
		p.state = stStart // interim: the final response follows
		return false
	}
	method := methodOther
	if len(f.methods) > 0 {
		method = f.methods[0]
		f.methods = f.methods[:copy(f.methods, f.methods[1:])]
	}
	if p.status == 101 || (method == methodCONNECT && p.status < 300) {
		f.mode = frameTunnel
		f.req.line, f.resp.line, f.methods = nil, nil, nil
		return false
	}
	switch {
	case method == methodHEAD || p.status == 204 || p.status == 304:
		p.state = stStart
	case p.chunked:
		p.state = stChunkSize
	case p.closeDelim || p.contentLength < 0:
		p.state = stUntilClose
		f.closeSent = true
	case p.contentLength > 0:
		p.state, p.remain = stBody, p.contentLength
	default:
		p.state = stStart
	}
	if p.connClose {
		f.closeSent = true
		return false
	}
	// An HTTP/1.0 response is left alone.
	return p.http11
}

// chunkSize parses a chunk-size line: hex digits, then optional extensions.
func chunkSize(line []byte) (int64, bool) {
	var n int64
	digits := 0
	for _, ch := range line {
		var d byte
		switch {
		case ch >= '0' && ch <= '9':
			d = ch - '0'
		case ch >= 'a' && ch <= 'f':
			d = ch - 'a' + 10
		case ch >= 'A' && ch <= 'F':
			d = ch - 'A' + 10
		case ch == ';' || ch == ' ' || ch == '\t':
			return n, digits > 0
		default:
			return 0, false
		}
		if digits++; digits > 15 {
			return 0, false
		}
		n = n<<4 | int64(d)
	}
	return n, digits > 0
}

// parseDecimal parses a non-negative decimal Content-Length.
func parseDecimal(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, ch := range b {
		if ch < '0' || ch > '9' {
			return 0, false
		}
		n = n*10 + int64(ch-'0')
	}
	return n, true
}

// isToken reports whether b is an HTTP token (a method name).
func isToken(b []byte) bool {
	for _, ch := range b {
		if ch <= ' ' || ch >= 0x7f || bytes.IndexByte([]byte(`"(),/:;<=>?@[\]{}`), ch) >= 0 {
			return false
		}
	}
	return true
}

// asciiEqualFold reports whether b equals s (lower case) ignoring ASCII case.
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		ch := b[i]
		if ch >= 'A' && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		if ch != s[i] {
			return false
		}
	}
	return true
}
