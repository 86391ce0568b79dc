package loadgen

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of the CPU times in /proc/PID/stat: USER_HZ, which
// Linux fixes at 100 for user space on every architecture.
const userHZ = 100

// procSample is a process's CPU time and resident memory at one moment.
type procSample struct {
	cpu time.Duration // user and system
	rss int64         // bytes
}

// readProc reads /proc/PID/stat.
func readProc(pid int) (procSample, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procSample{}, fmt.Errorf("process %d: %w (its CPU and memory are read from Linux's /proc)", pid, err)
	}
	// The command name, in parentheses, may hold spaces and parentheses;
	// the fields after it are numbers, from field 3 (state).
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 22 {
		return procSample{}, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	field := func(n int) int64 { // n counts from 1, as proc(5) does
		v, _ := strconv.ParseInt(fields[n-3], 10, 64)
		return v
	}
	ticks := field(14) + field(15) // utime, stime
	return procSample{
		cpu: time.Duration(ticks) * time.Second / userHZ,
		rss: field(24) * int64(os.Getpagesize()),
	}, nil
}
