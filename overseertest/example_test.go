package overseertest_test

import (
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/seed-710818af/overseer"
	"github.com/seed-710818af/overseer/graceful"
	"github.com/seed-710818af/overseer/overseertest"
)

// prog is the program under test, as it would be passed to overseer.Run.
func prog(state overseer.State) {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if d, err := time.ParseDuration(r.URL.Query().Get("sleep")); err == nil {
			time.Sleep(d)
		}
		fmt.Fprintln(w, "hello")
	})
	_ = graceful.Serve(&http.Server{Handler: mux}, state.Listener, state.GracefulShutdown)
}

// A program's test: a request in flight when a restart drains the program
// must still be answered.
func Example() {
	c, err := overseertest.Start(overseertest.Options{}, prog)
	if err != nil {
		panic(err)
	}
	defer c.Close()

	answer := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + c.Addr() + "/?sleep=200ms")
		if err != nil {
			answer <- "failed: " + err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		answer <- string(b)
	}()
	// Once the program has accepted the connection, the drain waits
	// for its request and lets it finish.
	for i := 0; i < 10000 && c.Connections() == 0; i++ {
		time.Sleep(time.Millisecond)
	}

	c.Drain() // what a restart does to the old child
	fmt.Print("in flight: ", <-answer)
	fmt.Println("wait:", c.Wait())
	// Output:
	// in flight: hello
	// wait: <nil>
}

// Wait reports a program that is still running when a real child would
// have been ended.
func ExampleChild_Wait() {
	c, err := overseertest.Start(overseertest.Options{TerminateTimeout: 100 * time.Millisecond}, func(state overseer.State) {
		time.Sleep(2 * time.Second) // ignores GracefulShutdown
	})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	c.Drain()
	fmt.Println(c.Wait())
	// Output:
	// overseertest: not finished within TerminateTimeout of the drain: the program had not returned after 100ms (0 connection(s) open)
}
