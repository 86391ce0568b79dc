package pebblestore

import (
	"fmt"
	"log/slog"
	"os"
)

// logger hands Pebble's messages to slog: its routine reports (WAL
// replay, compactions) at debug level, so a normal start stays quiet.
type logger struct{ l *slog.Logger }

func (g logger) Infof(format string, args ...any) {
	g.l.Debug(fmt.Sprintf(format, args...), "component", "pebble")
}

func (g logger) Errorf(format string, args ...any) {
	g.l.Error(fmt.Sprintf(format, args...), "component", "pebble")
}

// Fatalf is how Pebble reports a state it cannot continue from, such as
// a failed write to its log: it relies on the process ending, as its own
// default logger does.
func (g logger) Fatalf(format string, args ...any) {
	g.l.Error(fmt.Sprintf(format, args...), "component", "pebble", "fatal", true)
	os.Exit(1)
}
