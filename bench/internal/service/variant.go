// Package service starts one benchmark variant as a process group, restarts
// it the way its library expects, and stops it with SIGTERM, measuring how
// long that takes and what is left behind.
package service

// RestartKind says how a variant is restarted.
type RestartKind int

const (
	// NoRestart is the plain net/http floor: it is never restarted.
	NoRestart RestartKind = iota
	// SignalMaster sends SIGUSR2 to the first process (the overseer master).
	SignalMaster
	// SignalPIDFile sends SIGHUP to the pid in the pid file (tableflip).
	SignalPIDFile
)

// Variant is one build of the benchmark app.
type Variant struct {
	// Name is the short name used on the command line and in file names.
	Name string
	// Label is the name shown in tables and plots.
	Label string
	// Bin is the path of the built binary.
	Bin string
	// Restart is how the driver restarts the service.
	Restart RestartKind
}

// HasMaster reports whether the first process stays as a supervising master
// for the life of the service.
func (v Variant) HasMaster() bool { return v.Restart == SignalMaster }

// Known lists the variants in their canonical order, given the directory the
// binaries were built into.
func Known(binDir string) []Variant {
	return []Variant{
		{Name: "jpillora", Label: "jpillora/overseer v1.1.6", Bin: binDir + "/jpillora", Restart: SignalMaster},
		{Name: "tableflip", Label: "tableflip v1.2.3", Bin: binDir + "/tableflip", Restart: SignalPIDFile},
		{Name: "oursdropin", Label: "ours (drop-in API)", Bin: binDir + "/oursdropin", Restart: SignalMaster},
		{Name: "oursgraceful", Label: "ours + graceful.Serve", Bin: binDir + "/oursgraceful", Restart: SignalMaster},
		{Name: "plain", Label: "no library (floor)", Bin: binDir + "/plain", Restart: NoRestart},
	}
}
