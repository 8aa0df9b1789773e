package overseer

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/seed-710818af/overseer/fetcher"
	"github.com/seed-710818af/overseer/internal/sockets"
)

// Config is overseer's run-time configuration. The zero value of every
// field except Program is usable.
type Config struct {
	// Required stops Run from falling back to running the program in this
	// process when overseer cannot start; Run exits with an error instead.
	Required bool
	// Program is the service's main function. It runs in a child process
	// and receives the inherited listeners in its State. When it returns,
	// the child waits for the connections it accepted, then exits 0.
	Program func(state State)
	// Address is the single address to listen on; set this or Addresses,
	// not both. A plain "host:port" such as ":3000" or "127.0.0.1:0" is TCP,
	// as in jpillora/overseer. A kind may be named instead: tcp://, tcp4://,
	// tcp6://, udp://, udp4:// or udp6:// followed by host:port, or a Unix
	// stream socket as unix:///path/to.sock (also unix:/abs, unix:rel.sock,
	// and unix:@name for a Linux abstract socket). An entry may end in
	// "?name=NAME" to take the socket systemd passes under that
	// FileDescriptorName. With port 0 the kernel picks a port, which then
	// stays the same across restarts (see State.Listeners).
	Address string
	// Addresses are the addresses to listen on, in Address's syntax. Stream
	// sockets (TCP, Unix) become State.Listeners and datagram sockets (UDP)
	// State.PacketConns, each in this order. The master opens them once, or
	// takes them from systemd socket activation (LISTEN_FDS), and keeps
	// them across restarts. It creates a Unix socket's file, replacing a
	// stale one nobody listens on, and removes it when the service stops.
	Addresses []string
	// RestartSignal makes the master perform a graceful restart, and is the
	// signal the master sends a child to make it drain. Defaults to SIGUSR2.
	RestartSignal os.Signal
	// TerminateTimeout bounds a child's drain: a child still running this
	// long after it was asked to stop is killed. Defaults to 30 seconds.
	TerminateTimeout time.Duration
	// MinFetchInterval is the least time between two calls to
	// Fetcher.Fetch. Defaults to 1 second. After a failed attempt (the
	// download, its signature or writing the binary to disk failed) the
	// pause doubles with each further failure, up to a minute.
	MinFetchInterval time.Duration
	// PreUpgrade is called with the path of a fetched, not yet installed
	// binary; an error cancels that upgrade.
	PreUpgrade func(tempBinaryPath string) error
	// Debug logs everything overseer does. Without it (and without a
	// Logger) only warnings and errors are logged, so a program prints
	// nothing of overseer's while all is well, as with jpillora/overseer.
	Debug bool
	// NoWarn logs errors only.
	NoWarn bool
	// NoRestart disables restarts: RestartSignal (and Restart, and an
	// upgrade) make the service drain and exit instead, leaving the restart
	// to the process supervisor.
	NoRestart bool
	// NoRestartAfterFetch installs fetched binaries without restarting; the
	// next restart (RestartSignal or Restart) runs the new binary.
	NoRestartAfterFetch bool
	// Fetcher is polled for new binaries. Nil disables upgrades.
	Fetcher fetcher.Interface

	// ReadyTimeout bounds how long a new child may take to become ready
	// (see State.Ready). A child not ready in time is killed and the old one
	// keeps serving. Defaults to 30 seconds.
	ReadyTimeout time.Duration
	// SanityCheckTimeout bounds the check run on a fetched binary before it
	// is installed. Defaults to 10 seconds.
	SanityCheckTimeout time.Duration
	// MaxBinarySize is the largest binary a fetch may deliver, counted
	// after decompression for a gzipped release. A larger release is
	// refused once and, with the fetchers of package fetcher, not
	// downloaded again until the source changes. Defaults to 1 GiB.
	MaxBinarySize int64
	// PublicKey is a minisign public key: the second line of the .pub file
	// that "minisign -G" writes. When set, a fetched binary is installed
	// only if it comes with a valid prehashed minisign signature by this key
	// (FILE.minisig beside it, see fetcher.Signed); anything else is
	// rejected before it is ever executed. An invalid key disables upgrades.
	//
	// The signing time in the signature's trusted comment (minisign's
	// default "timestamp:<unix seconds>", authenticated by the signature)
	// must also be newer than that of the newest release installed, so an
	// older, validly signed release cannot be replayed to downgrade the
	// service; a signature without a timestamp is refused. To roll back on
	// purpose, sign the older binary again.
	PublicKey string
	// OnEvent, if set, is called with every lifecycle event (see Event).
	// It runs in the master process, not in the program's, one event at a
	// time on a goroutine of its own, so a slow callback delays later
	// events but never a restart; events beyond a backlog of 1024 are
	// dropped and logged.
	OnEvent func(Event)
	// CrashPolicy, if set, restarts a child that exits on its own instead
	// of ending the master with its exit code (the default, as in
	// jpillora/overseer). See CrashPolicy.
	CrashPolicy *CrashPolicy
	// ProbationPeriod is how long an upgraded release stays on probation
	// once its child is ready. If a child of that release exits during
	// probation, or fails HealthCheck, the master puts the previous binary
	// back on disk, quarantines the new one (it is not applied again) and
	// starts a child from the previous binary on the sockets it holds:
	// connections wait in the queue, none is refused, and the master's
	// PID does not change. After probation the release is proven. A
	// restart without an upgrade is not on probation. A newer release that
	// arrives during probation replaces the one on probation; a rollback
	// then returns to the last proven binary.
	//
	// Defaults to 2 minutes: long enough to see a release through its
	// start-up, its first minute of real traffic and the timers that first
	// fire a minute in (caches, connection pools, flushes), short enough
	// that a release is proven before the next one usually arrives. A
	// negative value disables probation: a release is proven once its
	// child is ready, as in jpillora/overseer.
	ProbationPeriod time.Duration
	// HealthCheck, if set, is run by the master while a release is on
	// probation; see HealthCheck.
	HealthCheck *HealthCheck
	// NoMasterReexec keeps the master on the binary it started from. By
	// default, once an upgraded release is proven (see ProbationPeriod),
	// the master re-executes itself on it in place (execve: same PID, same
	// sockets, the running child adopted, not restarted), after a dry run
	// of the new binary's master start-up; see ReexecMaster.
	NoMasterReexec bool
	// ReexecSignal, if set, makes the master re-execute itself on the
	// binary on disk, as ReexecMaster does; the signal is then not
	// forwarded to the child. It must differ from RestartSignal. Unset by
	// default: every signal jpillora/overseer forwards keeps its meaning.
	ReexecSignal os.Signal
	// FDStore hands the listening sockets to systemd's file descriptor
	// store (FDSTORE=1 on NOTIFY_SOCKET), so that a master systemd starts
	// again after a crash or SIGKILL gets them back (LISTEN_FDS) and
	// clients wait in the socket's queue meanwhile instead of being
	// refused. It needs FileDescriptorStoreMax= in the unit (see
	// docs/operations.md). Under systemd 254 and later, which tells the
	// service its store size ($FDSTORE), this happens without the field.
	FDStore bool
	// Logger receives overseer's structured logs. Defaults to a text
	// handler on standard error, at the level Debug and NoWarn select
	// (warnings and errors when neither is set). Set a logger at
	// slog.LevelInfo to see each start, restart, upgrade and exit.
	Logger *slog.Logger

	addrs sockets.List // Addresses, parsed once by validate
}

// CrashPolicy restarts crashed children on the sockets the master holds:
// while no child runs, connections wait in the socket's queue. Its
// semantics follow supervisord's startsecs and startretries. The zero
// value uses every default.
type CrashPolicy struct {
	// StartPeriod: a child that exits (or is not ready) sooner than this
	// after it started counts as a failed start. Default 1 second.
	StartPeriod time.Duration
	// MaxFailedStarts is how many failed starts in a row the master
	// tolerates; after one more it exits with the last child's code.
	// Default 3.
	MaxFailedStarts int
	// Backoff is the wait before the first restart after a crash; it
	// doubles with each failed start in a row, with ±20% jitter. Default
	// 100 milliseconds.
	Backoff time.Duration
	// MaxBackoff caps the wait. Default 30 seconds.
	MaxBackoff time.Duration
}

// withDefaults returns p with zero fields set to their defaults.
func (p CrashPolicy) withDefaults() CrashPolicy {
	if p.StartPeriod <= 0 {
		p.StartPeriod = time.Second
	}
	if p.MaxFailedStarts <= 0 {
		p.MaxFailedStarts = 3
	}
	if p.Backoff <= 0 {
		p.Backoff = 100 * time.Millisecond
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = 30 * time.Second
	}
	return p
}

// Defaults applied by validate.
const (
	defaultTerminateTimeout   = 30 * time.Second
	defaultMinFetchInterval   = time.Second
	defaultReadyTimeout       = 30 * time.Second
	defaultSanityCheckTimeout = 10 * time.Second
	defaultMaxBinarySize      = 1 << 30
	defaultProbationPeriod    = 2 * time.Minute
)

// validate checks c and fills in defaults.
func (c *Config) validate() error {
	if c.Program == nil {
		return errors.New("overseer: Config.Program is required")
	}
	if c.Address != "" {
		if len(c.Addresses) > 0 {
			return errors.New("overseer: set Config.Address or Config.Addresses, not both")
		}
		c.Addresses = []string{c.Address}
	} else if len(c.Addresses) > 0 {
		c.Address = c.Addresses[0]
	}
	addrs, err := sockets.Parse(c.Addresses)
	if err != nil {
		return err
	}
	c.addrs = addrs
	if c.RestartSignal == nil {
		c.RestartSignal = SIGUSR2
	}
	if c.ReexecSignal != nil && c.ReexecSignal == c.RestartSignal {
		return errors.New("overseer: Config.ReexecSignal must differ from RestartSignal")
	}
	if c.TerminateTimeout <= 0 {
		c.TerminateTimeout = defaultTerminateTimeout
	}
	if c.MinFetchInterval <= 0 {
		c.MinFetchInterval = defaultMinFetchInterval
	}
	if c.ReadyTimeout <= 0 {
		c.ReadyTimeout = defaultReadyTimeout
	}
	if c.SanityCheckTimeout <= 0 {
		c.SanityCheckTimeout = defaultSanityCheckTimeout
	}
	if c.MaxBinarySize <= 0 {
		c.MaxBinarySize = defaultMaxBinarySize
	}
	if c.ProbationPeriod == 0 {
		c.ProbationPeriod = defaultProbationPeriod
	}
	if c.HealthCheck != nil {
		if c.HealthCheck.Path == "" && c.HealthCheck.Func == nil {
			return errors.New("overseer: Config.HealthCheck needs a Path or a Func")
		}
		if err := validHealthPath(c.HealthCheck.Path); err != nil {
			return err
		}
		h := c.HealthCheck.withDefaults()
		c.HealthCheck = &h
	}
	if c.Logger == nil {
		c.Logger = defaultLogger(c)
	}
	if c.CrashPolicy != nil {
		p := c.CrashPolicy.withDefaults()
		c.CrashPolicy = &p
	}
	return nil
}

// Run runs the program under overseer and exits the process when it is
// done.
//
// In the first process Run becomes the master and does not return: it
// exits with the program's exit code. In a child it runs Program, waits for
// the connections the program accepted, and exits 0. If overseer cannot
// start (or the platform cannot hand sockets over), Run logs why and runs
// Program in this process on real listeners, unless Config.Required is set,
// in which case it exits 1.
func Run(c Config) {
	if err := runErr(&c); err != nil {
		if c.Required {
			fmt.Fprintf(os.Stderr, "overseer: %s\n", err)
			os.Exit(1)
		}
		if c.Debug || !c.NoWarn {
			fmt.Fprintf(os.Stderr, "overseer: disabled: %s\n", err)
		}
		runInProcess(&c)
		return
	}
	os.Exit(0)
}

// RunErr is Run without the fallback: it returns the error that stopped
// overseer from starting, and returns nil in a child once Program is done.
// Like Run, the master exits the process with the program's exit code.
func RunErr(c Config) error {
	return runErr(&c)
}

// runErr picks this process's role and runs it.
func runErr(c *Config) error {
	if answerSanityCheck() {
		os.Exit(0)
	}
	if err := c.validate(); err != nil {
		return err
	}
	if !supported {
		return fmt.Errorf("overseer: handover is not supported on %s", platform)
	}
	if answerMasterCheck(c) {
		os.Exit(0)
	}
	if isChild() {
		return runChild(c)
	}
	if isV1Child() {
		return runV1Child(c)
	}
	return runMaster(c)
}

// Restart asks for a graceful restart, the same as sending RestartSignal to
// the master. In a child it asks the master over the control channel. With
// Config.NoRestart it asks for a graceful shutdown. It does nothing outside
// overseer.
func Restart() {
	requestRestart()
}

// IsSupported reports whether this platform can hand sockets to a new
// process. Where it cannot, Run runs the program in-process.
func IsSupported() bool {
	return supported
}

// SanityCheck answers overseer's check of a fetched binary and exits, if
// this process was started for one; otherwise it does nothing. Run does this
// itself; call SanityCheck earlier in main when the program does work before
// Run that must not happen during a check (opening files, connecting to
// databases, printing).
func SanityCheck() {
	if answerSanityCheck() {
		os.Exit(0)
	}
}
