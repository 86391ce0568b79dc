package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestCommandLine covers the answers that come before any broker starts.
func TestCommandLine(t *testing.T) {
	for _, tc := range []struct {
		args         []string
		status       int
		stdout       string // a substring, or "" for nothing
		stderrPrefix string // or "" for nothing
	}{
		{args: []string{"version"}, status: 0, stdout: "petrel "},
		{args: []string{"--help"}, status: 0, stdout: "  -c, --config FILE"},
		{args: []string{"serve", "-h"}, status: 0, stdout: "PETREL_<KEY>"},
		{args: []string{"help"}, status: 0, stdout: "--listen ADDR"},
		{args: []string{"start"}, status: 2, stderrPrefix: `petrel: unknown command "start" (see petrel --help)`},
		{args: []string{"version", "--short"}, status: 2, stderrPrefix: "petrel: version takes no arguments"},
		{args: []string{"--conf", "x.yaml"}, status: 2, stderrPrefix: "petrel: unknown flag: --conf (see petrel --help)"},
		{args: []string{"-p", "mqtt"}, status: 2, stderrPrefix: `petrel: invalid argument "mqtt" for "-p, --port" flag`},
		{args: []string{"serve", "extra"}, status: 2, stderrPrefix: `petrel: unexpected argument "extra"`},
		{args: []string{"-p", "1883", "--listen", "127.0.0.1:1884"}, status: 1,
			stderrPrefix: "petrel: --port sets the port of the default listener, and --listen replaces it: use one or the other\n"},
		{args: []string{"-c", "does-not-exist.yaml"}, status: 1,
			stderrPrefix: "petrel: read config: open does-not-exist.yaml: no such file or directory\n"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if got := run(tc.args, &stdout, &stderr); got != tc.status {
				t.Errorf("exit status %d, want %d; stderr: %s", got, tc.status, stderr.String())
			}
			if tc.stdout == "" && stdout.Len() > 0 || !strings.Contains(stdout.String(), tc.stdout) {
				t.Errorf("stdout:\n%s\nwant it to contain %q", stdout.String(), tc.stdout)
			}
			if !strings.HasPrefix(stderr.String(), tc.stderrPrefix) || tc.stderrPrefix == "" && stderr.Len() > 0 {
				t.Errorf("stderr:\n%s\nwant it to begin %q", stderr.String(), tc.stderrPrefix)
			}
			if strings.Count(stderr.String(), "\n") > 1 {
				t.Errorf("stderr has more than one line:\n%s", stderr.String())
			}
		})
	}
}
