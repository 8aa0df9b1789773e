package overseer

import (
	"log/slog"
	"os"
)

// defaultLogger logs text to standard error at the level c asks for:
// Debug shows everything, NoWarn only errors, otherwise warnings and
// errors. Quiet is the default, as in jpillora/overseer, which prints
// nothing of its own unless Debug is set: a drop-in program's output does
// not change. Info lines (start, restarts, upgrades, exits) need Debug or a
// Config.Logger at slog.LevelInfo.
func defaultLogger(c *Config) *slog.Logger {
	level := slog.LevelWarn
	switch {
	case c.Debug:
		level = slog.LevelDebug
	case c.NoWarn:
		level = slog.LevelError
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})).With("lib", "overseer")
}

// logger returns c's logger, or the default one if validate has not run.
func logger(c *Config) *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return defaultLogger(c)
}
