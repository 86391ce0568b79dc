package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// terminal is a pseudo-terminal whose far end a child process uses as
// its standard input and output, as a person's shell would.
type terminal struct {
	master, slave *os.File
	mu            sync.Mutex
	out           bytes.Buffer // what the child wrote to the terminal
}

func openTerminal(t *testing.T) *terminal {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("PSEUDO-TERMINAL TEST SKIPPED: no /dev/ptmx: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The test keeps the slave open too, to see whether it echoes.
	t.Cleanup(func() { s.Close() })
	term := &terminal{master: m, slave: s}
	go func() {
		buf := make([]byte, 256)
		for {
			n, err := m.Read(buf)
			term.mu.Lock()
			term.out.Write(buf[:n])
			term.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return term
}

func (term *terminal) output() string {
	term.mu.Lock()
	defer term.mu.Unlock()
	return term.out.String()
}

// waitFor waits until the terminal has shown want.
func (term *terminal) waitFor(t *testing.T, want string) {
	t.Helper()
	for start := time.Now(); !strings.Contains(term.output(), want); time.Sleep(5 * time.Millisecond) {
		if time.Since(start) > deadline {
			t.Fatalf("the terminal shows %q, want %q in it", term.output(), want)
		}
	}
}

// typeAfter waits until the terminal shows the n-th prompt and no longer
// echoes, then types line, as a person would.
func (term *terminal) typeAfter(t *testing.T, prompt string, n int, line string) {
	t.Helper()
	for start := time.Now(); ; time.Sleep(5 * time.Millisecond) {
		if time.Since(start) > deadline {
			t.Fatalf("no %q prompt (%d) with echo off after %s; the terminal shows %q", prompt, n, deadline, term.output())
		}
		tio, err := unix.IoctlGetTermios(int(term.slave.Fd()), unix.TCGETS)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Count(term.output(), prompt) >= n && tio.Lflag&unix.ECHO == 0 {
			break
		}
	}
	if _, err := term.master.Write([]byte(line + "\n")); err != nil {
		t.Fatal(err)
	}
}

// runOnTerminal starts petrel with the terminal as its standard input,
// output and error.
func runOnTerminal(t *testing.T, term *terminal, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = cleanEnv()
	cmd.Stdin, cmd.Stdout, cmd.Stderr = term.slave, term.slave, term.slave
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd
}

func TestPasswdPromptsUnseen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "passwd")
	passwdOK(t, "-c", "-b", path, "bob", "b")

	term := openTerminal(t)
	cmd := runOnTerminal(t, term, "passwd", path, "alice")
	term.typeAfter(t, "Password: ", 1, "typed secret")
	term.typeAfter(t, "Reenter password: ", 1, "typed secret")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("petrel passwd exited %v; the terminal shows %q", err, term.output())
	}
	term.waitFor(t, "Reenter password: \r\n")
	if out := term.output(); strings.Contains(out, "typed secret") {
		t.Errorf("the password was echoed: %q", out)
	}
	wantLogins(t, path, map[string]string{"alice:typed secret": "accepted", "bob:b": "accepted"})
}

func TestPasswdPromptsMismatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "passwd")
	passwdOK(t, "-c", "-b", path, "alice", "old")

	term := openTerminal(t)
	cmd := runOnTerminal(t, term, "passwd", path, "alice")
	term.typeAfter(t, "Password: ", 1, "new one")
	term.typeAfter(t, "Reenter password: ", 1, "new 0ne")
	err := cmd.Wait()
	if cmd.ProcessState.ExitCode() != 1 {
		t.Errorf("exit %v, want status 1", err)
	}
	term.waitFor(t, "the passwords do not match; nothing was changed")
	wantLogins(t, path, map[string]string{"alice:old": "accepted", "alice:new one": bad})
}
