// Command grpc serves the standard gRPC health service and restarts
// without failing an RPC: on the drain, open Watch streams end with
// UNAVAILABLE (the client reconnects and watches again) and GracefulStop
// sends GOAWAY and lets unary RPCs in flight finish, while the client
// sends new ones to the new process.
//
//	go run ./examples/grpc -addr 127.0.0.1:50051
//	kill -USR2 <master pid>
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/seed-710818af/overseer"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:50051", "address to listen on")
	terminate := flag.Duration("terminate", 30*time.Second, "overseer TerminateTimeout")
	flag.Parse()
	overseer.Run(overseer.Config{
		Address:          *addr,
		TerminateTimeout: *terminate,
		Program:          program,
		NoWarn:           true,
	})
}

// program serves gRPC until the drain, then stops gracefully.
func program(state overseer.State) {
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, &health{drain: state.GracefulShutdown, pid: os.Getpid()})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(state.Listener) }()
	fmt.Printf("serving %s pid %d\n", state.Listener.Addr(), os.Getpid())
	select {
	case err := <-served:
		slog.Error("serve", "err", err)
		return
	case <-state.GracefulShutdown:
	}
	// Watch streams see the drain and end; then GracefulStop returns once
	// every RPC has finished. overseer's TerminateTimeout bounds it.
	srv.GracefulStop()
	<-served
}

// health answers Check at once and keeps Watch streams open until the
// drain.
type health struct {
	healthpb.UnimplementedHealthServer
	drain <-chan bool
	pid   int
}

// Check reports SERVING.
func (h *health) Check(context.Context, *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
}

// Watch sends SERVING, then ends with UNAVAILABLE when the process drains:
// a status a client acts on by calling again, which reaches the new
// process.
func (h *health) Watch(_ *healthpb.HealthCheckRequest, stream healthpb.Health_WatchServer) error {
	if err := stream.Send(&healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}); err != nil {
		return err
	}
	select {
	case <-h.drain:
		return status.Errorf(codes.Unavailable, "server process %d is restarting", h.pid)
	case <-stream.Context().Done():
		return status.FromContextError(stream.Context().Err()).Err()
	}
}
