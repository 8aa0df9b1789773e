package fetcher_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/seed-710818af/overseer/fetcher"
)

// ExampleHTTP polls a URL: the first poll downloads the binary, later polls
// cost one conditional request and no body until the file changes. In a
// service, pass the fetcher to overseer as Config.Fetcher instead of
// calling Fetch yourself.
func ExampleHTTP() {
	// Stands in for the web server or CDN the release is published on.
	published := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "myapp", published, strings.NewReader("new binary"))
	}))
	defer srv.Close()

	f := &fetcher.HTTP{
		URL:      srv.URL + "/myapp_linux_amd64",
		Interval: 10 * time.Millisecond, // in production: minutes
	}
	if err := f.Init(); err != nil {
		fmt.Println(err)
		return
	}

	r, err := f.Fetch() // the first poll downloads
	if err != nil {
		fmt.Println(err)
		return
	}
	bin, err := io.ReadAll(r)
	r.(io.Closer).Close()
	fmt.Printf("downloaded %q, err=%v\n", bin, err)

	r, err = f.Fetch() // unchanged: 304 Not Modified
	fmt.Printf("update=%v err=%v\n", r != nil, err)
	// Output:
	// downloaded "new binary", err=<nil>
	// update=false err=<nil>
}
