package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole program but for the process exit, which it returns as
// a status code.
func run(args []string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(args, stdout, stderr)
	case "pub":
		return pub(args, os.Stdin, stdout, stderr)
	case "sub":
		return sub(args, stdout, stderr)
	case "ctl":
		return ctl(args, stdout, stderr)
	case "bench":
		return bench(args, stdout, stderr)
	case "passwd":
		return passwd(args, os.Stdin, stdout, stderr)
	case "version":
		if len(args) > 0 {
			return usageError(stderr, fmt.Errorf("version takes no arguments, got %q", args))
		}
		fmt.Fprintln(stdout, "petrel", version(), runtime.Version(), runtime.GOOS+"/"+runtime.GOARCH)
		return 0
	case "help":
		fmt.Fprint(stdout, usage(newFlagSet(&serveArgs{})))
		return 0
	}
	return usageError(stderr, fmt.Errorf("unknown command %q", cmd))
}

// usageError reports a bad command line, with the status shells expect.
func usageError(stderr io.Writer, err error) int {
	fmt.Fprintf(stderr, "petrel: %v (see petrel --help)\n", err)
	return 2
}

// version is the module version the binary was built from: a release tag
// when installed with go install ...@v1.2.3, a pseudo-version from the
// commit when built in a checkout, or (devel) under go run.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}
