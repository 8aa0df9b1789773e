// Package overseer makes a Go network service upgrade itself and restart
// with zero downtime.
//
// A program hands its main function to Run. The first process becomes a
// small, long-lived master: it opens the listening sockets, forwards
// signals, proxies the exit code (so systemd, supervisord or Docker see one
// stable PID), and polls a fetcher for new binaries. The program itself runs
// in a child process that inherits the sockets.
//
// A restart (RestartSignal, Restart, or a verified upgrade) starts a new
// child on the same sockets. The old child is told to drain only once the
// new one is ready, which by default is when its program first calls Accept:
// there is never a moment when no process accepts. A new child that exits or
// is not ready within Config.ReadyTimeout is killed, the old child keeps
// serving, and an upgrade is rolled back.
//
// The draining child closes State.GracefulShutdown, stops accepting, lets
// in-flight requests finish and exits as soon as its last connection is
// done. Programs that use net/http get a drain with no client retries from
// graceful.Serve.
//
// The API is a drop-in for github.com/jpillora/overseer: a program written
// for it builds and behaves the same with only its import path changed.
package overseer
