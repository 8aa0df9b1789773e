// Package graceful drains network servers without losing requests.
//
// It has two parts:
//
//   - Listener wraps a net.Listener and tracks every connection it accepts,
//     so a process can stop accepting, wait for the connections it already
//     took, and close keep-alive connections at a request boundary instead of
//     cutting a request in half. It works for any request/response protocol
//     and is what overseer hands to programs as State.Listener. For HTTP/1
//     it does more: after EndKeepAlives, every HTTP/1.1 response its
//     connections write says "Connection: close" (only the header changes,
//     never a body), and after Close, Accept returns only once no request
//     is in flight, so even a program that exits as soon as http.Serve
//     returns loses no request.
//   - Serve runs an *http.Server on a listener until a drain channel closes,
//     then drains it with no client retries: responses carry
//     "Connection: close" during the drain, and only connections that stay
//     idle are closed.
//
// Nothing here depends on overseer; both parts work in any program.
package graceful
