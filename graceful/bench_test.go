package graceful_test

import (
	"io"
	"net"
	"net/http"
	"testing"

	"github.com/seed-710818af/overseer/graceful"
)

// BenchmarkKeepAliveRequest measures one HTTP request on a keep-alive
// connection, through a plain listener and through a tracking Listener:
// the difference is what connection tracking costs per request.
func BenchmarkKeepAliveRequest(b *testing.B) {
	for _, tracked := range []bool{false, true} {
		name := "raw"
		if tracked {
			name = "tracked"
		}
		b.Run(name, func(b *testing.B) {
			inner, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			var l net.Listener = inner
			if tracked {
				l = graceful.NewListener(inner)
			}
			defer l.Close()
			go http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "ok")
			}))
			tr := &http.Transport{}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr}
			url := "http://" + l.Addr().String() + "/"
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				resp, err := client.Get(url)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
}
