package integration

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// wsCounts are what WebSocket clients saw across restarts.
type wsCounts struct {
	echoes, restartCloses, abnormal, dialFailed, lost atomic.Int64
}

// TestWebSocketRestarts keeps WebSocket clients echoing through restarts
// of ./examples/websocket: every connection to a draining child must end
// with 1012 (or 1001), never abnormally (1006), and clients reconnect to
// the new child at once.
func TestWebSocketRestarts(t *testing.T) {
	const clients, restarts = 16, 3
	s := start(t, build(t, "websocket"), "-addr", freeAddr(t), "-terminate", "10s")
	addr, pid := s.waitServing(20 * time.Second)

	ctx, cancel := context.WithCancel(context.Background())
	var c wsCounts
	var wg sync.WaitGroup
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			wsClient(ctx, t, "ws://"+addr+"/echo", i, &c)
		}(i)
	}
	defer func() { cancel(); wg.Wait() }()
	time.Sleep(300 * time.Millisecond)

	var drains []time.Duration
	for r := 0; r < restarts; r++ {
		old := pid
		start := time.Now()
		pid = s.restart()
		if _, ok := waitExit(old, 15*time.Second); !ok {
			t.Fatalf("old child %d still running 15s after the restart", old)
		}
		drains = append(drains, time.Since(start))
		time.Sleep(300 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	t.Logf("websocket: %d clients, %d restarts: %d echoes, %d closes with 1012/1001, %d abnormal closes, %d failed dials, %d messages without an echo; restart→old child gone: %v",
		clients, restarts, c.echoes.Load(), c.restartCloses.Load(), c.abnormal.Load(), c.dialFailed.Load(), c.lost.Load(), drains)
	if c.abnormal.Load() != 0 || c.dialFailed.Load() != 0 {
		t.Errorf("%d abnormal closes and %d failed dials, want none", c.abnormal.Load(), c.dialFailed.Load())
	}
	if got := c.restartCloses.Load(); got < clients*restarts {
		t.Errorf("%d closes with 1012/1001, want at least one per client per restart (%d)", got, clients*restarts)
	}
	if c.echoes.Load() == 0 {
		t.Error("no echo at all")
	}
}

// wsClient echoes messages until ctx ends, reconnecting after every close.
func wsClient(ctx context.Context, t *testing.T, url string, id int, c *wsCounts) {
	for n := 0; ctx.Err() == nil; {
		dctx, dcancel := context.WithTimeout(ctx, 5*time.Second)
		conn, _, err := websocket.Dial(dctx, url, nil)
		dcancel()
		if err != nil {
			if ctx.Err() == nil {
				t.Logf("client %d: dial: %v", id, err)
				c.dialFailed.Add(1)
				time.Sleep(50 * time.Millisecond)
			}
			continue
		}
		for ctx.Err() == nil {
			n++
			msg := fmt.Sprintf("client %d message %d", id, n)
			err := conn.Write(ctx, websocket.MessageText, []byte(msg))
			if err == nil {
				var got []byte
				_, got, err = conn.Read(ctx)
				if err == nil {
					if string(got) != msg {
						t.Errorf("client %d: echo %q, want %q", id, got, msg)
					}
					c.echoes.Add(1)
					time.Sleep(10 * time.Millisecond)
					continue
				}
			}
			if ctx.Err() != nil {
				break
			}
			c.lost.Add(1) // sent while the server was closing: the client sends it again
			switch websocket.CloseStatus(err) {
			case websocket.StatusServiceRestart, websocket.StatusGoingAway:
				c.restartCloses.Add(1)
			default:
				t.Logf("client %d: abnormal end: %v", id, err)
				c.abnormal.Add(1)
			}
			break
		}
		_ = conn.Close(websocket.StatusNormalClosure, "")
	}
}
