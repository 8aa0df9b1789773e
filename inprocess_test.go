package overseer

import (
	"io"
	"net/http"
	"testing"
	"time"
)

// TestRunInProcessHasRealListeners: the fallback gives the program real
// listeners on the configured addresses, never a nil Listener.
func TestRunInProcessHasRealListeners(t *testing.T) {
	got := make(chan string, 1)
	c := &Config{
		Addresses: []string{"127.0.0.1:0", "127.0.0.1:0"},
		NoWarn:    true,
		Program: func(s State) {
			if s.Enabled || s.Listener == nil || len(s.Listeners) != 2 || s.GracefulShutdown == nil {
				got <- "bad state"
				return
			}
			defer s.Listeners[0].Close()
			defer s.Listeners[1].Close()
			go http.Serve(s.Listener, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "in-process")
			}))
			client := &http.Client{Timeout: 5 * time.Second}
			resp, err := client.Get("http://" + s.Listener.Addr().String() + "/")
			if err != nil {
				got <- err.Error()
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			got <- string(b)
		},
	}
	runInProcess(c)
	if msg := <-got; msg != "in-process" {
		t.Fatalf("program saw: %s", msg)
	}
}
