package integration

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// TestGRPCRestarts sends unary RPCs and keeps server streams open through
// restarts of ./examples/grpc: no unary RPC may fail, and every stream the
// old child held must end with UNAVAILABLE, which the client answers by
// opening the stream again (on the new child).
func TestGRPCRestarts(t *testing.T) {
	const unaryWorkers, watchers, restarts = 8, 4, 3
	s := start(t, build(t, "grpc"), "-addr", freeAddr(t), "-terminate", "10s")
	addr, pid := s.waitServing(20 * time.Second)
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	client := healthpb.NewHealthClient(cc)

	ctx, cancel := context.WithCancel(context.Background())
	var unaryOK, unaryFailed, unavailableEnds, otherEnds atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < unaryWorkers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
				_, err := client.Check(rctx, &healthpb.HealthCheckRequest{})
				rcancel()
				switch {
				case err == nil:
					unaryOK.Add(1)
				case ctx.Err() == nil:
					unaryFailed.Add(1)
					t.Logf("Check: %v", err)
				}
			}
		}()
	}
	for w := 0; w < watchers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				stream, err := client.Watch(ctx, &healthpb.HealthCheckRequest{})
				if err == nil {
					for err == nil {
						_, err = stream.Recv()
					}
				}
				switch {
				case ctx.Err() != nil:
				case status.Code(err) == codes.Unavailable:
					unavailableEnds.Add(1)
				default:
					otherEnds.Add(1)
					t.Logf("Watch ended: %v", err)
				}
			}
		}()
	}
	defer func() { cancel(); wg.Wait() }()
	time.Sleep(300 * time.Millisecond)
	var drains []time.Duration
	for r := 0; r < restarts; r++ {
		old := pid
		start := time.Now()
		pid = s.restart()
		if _, done := waitExit(old, 15*time.Second); !done {
			t.Fatalf("old child %d still running 15s after the restart", old)
		}
		drains = append(drains, time.Since(start).Round(time.Millisecond))
		time.Sleep(300 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	t.Logf("grpc: %d restarts: %d unary RPCs, %d failed; %d streams ended UNAVAILABLE, %d otherwise; restart→old child gone: %v",
		restarts, unaryOK.Load()+unaryFailed.Load(), unaryFailed.Load(), unavailableEnds.Load(), otherEnds.Load(), drains)
	if unaryFailed.Load() != 0 || otherEnds.Load() != 0 {
		t.Errorf("%d failed unary RPCs and %d streams that did not end UNAVAILABLE, want none", unaryFailed.Load(), otherEnds.Load())
	}
	if unavailableEnds.Load() < restarts {
		t.Errorf("%d streams ended UNAVAILABLE, want at least one per restart", unavailableEnds.Load())
	}
	if unaryOK.Load() == 0 {
		t.Error("no unary RPC succeeded")
	}
}
