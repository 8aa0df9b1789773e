package graceful

// firstRequest follows the bytes of a connection's first request, to tell
// when the server has read all of it.
//
// The question matters for Listener.Settle: http.Server drops a request
// whose header it finishes reading after Shutdown began, even if the bytes
// arrived long before. A Read that starts after some data is usually the
// server waiting for the next request, but not when a client sent its
// header in pieces: then the server is still reading the first one.
//
// So a connection whose first bytes look like an HTTP/1 request line (an
// upper-case method) counts as read only once the blank line that ends the
// header has gone to the server; net/http's next Read on it comes after its
// shutdown check. Any other protocol (TLS, a binary protocol) counts as read
// at its second Read after data, and every connection is settled by its
// first write.
type firstRequest struct {
	classified bool // the first byte has been seen
	http       bool // it looks like an HTTP/1 request
	ended      bool // the header's blank line has been read
	atLineEnd  bool // the last significant byte was a line feed
}

// scan takes bytes the server has read.
func (f *firstRequest) scan(b []byte) {
	if len(b) == 0 || f.ended {
		return
	}
	if !f.classified {
		f.classified = true
		f.http = b[0] >= 'A' && b[0] <= 'Z'
		if !f.http {
			return
		}
	} else if !f.http {
		return
	}
	for _, ch := range b {
		switch ch {
		case '\n':
			if f.atLineEnd {
				f.ended = true
				return
			}
			f.atLineEnd = true
		case '\r':
			// part of a CRLF line end: neither ends nor starts a line
		default:
			f.atLineEnd = false
		}
	}
}

// complete reports whether the server has read the whole first request,
// as far as the bytes show: nothing read is not complete. A write settles
// a connection regardless.
func (f *firstRequest) complete() bool {
	return f.classified && (!f.http || f.ended)
}
