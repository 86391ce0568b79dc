package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/petrelmq/petrel/auth"
)

// This file holds petrel passwd, which edits a password file as
// mosquitto_passwd does, with the same flags, writing the argon2id hash
// and SCRAM keys that auth.PasswordLine makes.

const passwdUsage = `petrel passwd adds, changes or deletes a user of a password file, taking
mosquitto_passwd's flags. It asks for the password twice, unseen, unless
-b gives it on the command line. Other users' lines, the file's mode and
its owner are kept; a new file is readable by its owner only (0600).

Usage:
  petrel passwd [-c] FILE USER            add or change USER, asking the password
  petrel passwd [-c] -b FILE USER PASSWORD
  petrel passwd -D FILE USER              delete USER

Flags:
`

type passwdArgs struct {
	create, remove, batch, help bool
}

func passwd(args []string, stdin *os.File, stdout, stderr io.Writer) int {
	var a passwdArgs
	fs := pflag.NewFlagSet("petrel passwd", pflag.ContinueOnError)
	fs.SortFlags = false
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.BoolVarP(&a.create, "create", "c", false, "create FILE, or overwrite it, with USER alone")
	fs.BoolVarP(&a.remove, "delete", "D", false, "delete USER from FILE")
	fs.BoolVarP(&a.batch, "batch", "b", false, "take PASSWORD from the command line (where other local users\nmay see it) instead of asking")
	fs.BoolVarP(&a.help, "help", "h", false, "show this help")
	if err := fs.Parse(args); err != nil {
		return cmdUsageError(stderr, "passwd", err)
	}
	if a.help {
		fmt.Fprint(stdout, passwdUsage+fs.FlagUsages())
		return 0
	}
	want := 2
	if a.batch {
		want = 3
	}
	switch {
	case a.create && a.remove:
		return cmdUsageError(stderr, "passwd", errors.New("-c and -D do not go together"))
	case a.remove && a.batch:
		return cmdUsageError(stderr, "passwd", errors.New("-D takes no password, so no -b"))
	case fs.NArg() == 3 && !a.batch:
		return cmdUsageError(stderr, "passwd", errors.New("a password on the command line needs -b"))
	case fs.NArg() != want:
		return cmdUsageError(stderr, "passwd", fmt.Errorf("want %d arguments, FILE USER%s, got %d", want, map[bool]string{true: " PASSWORD"}[a.batch], fs.NArg()))
	}
	file, user := fs.Arg(0), fs.Arg(1)
	err := editPasswordFile(file, user, a, func() ([]byte, error) {
		if a.batch {
			return []byte(fs.Arg(2)), nil
		}
		return askPassword(stdin, stderr)
	})
	if err != nil {
		fmt.Fprintf(stderr, "petrel passwd: %v\n", err)
		return 1
	}
	return 0
}

// askPassword reads the password twice from the terminal on stdin,
// without echo.
func askPassword(stdin *os.File, prompt io.Writer) ([]byte, error) {
	fd := int(stdin.Fd())
	if !term.IsTerminal(fd) {
		return nil, errors.New("standard input is not a terminal, so the password cannot be asked for unseen: run petrel passwd in a terminal, or give the password with -b")
	}
	var pw [2][]byte
	for i, p := range []string{"Password: ", "Reenter password: "} {
		fmt.Fprint(prompt, p)
		var err error
		pw[i], err = term.ReadPassword(fd)
		fmt.Fprintln(prompt)
		if err != nil {
			return nil, fmt.Errorf("read the password: %w", err)
		}
	}
	if !bytes.Equal(pw[0], pw[1]) {
		return nil, errors.New("the passwords do not match; nothing was changed")
	}
	return pw[0], nil
}

// editPasswordFile adds, replaces or (with a.remove) deletes user's line
// in file, keeping the other lines as they are.
func editPasswordFile(file, user string, a passwdArgs, password func() ([]byte, error)) error {
	// Write through a symbolic link, not over it.
	if target, err := filepath.EvalSymlinks(file); err == nil {
		file = target
	}
	var lines []string
	info, err := os.Stat(file)
	switch {
	case err == nil && !info.Mode().IsRegular():
		return fmt.Errorf("%s is not a regular file", file)
	case errors.Is(err, fs.ErrNotExist) && !a.create:
		return fmt.Errorf("%s does not exist: create it with -c", file)
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return err
	case err == nil && !a.create:
		data, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		lines = strings.SplitAfter(string(data), "\n")
		if last := len(lines) - 1; lines[last] == "" {
			lines = lines[:last]
		} else {
			lines[last] += "\n"
		}
	}
	at := -1
	for i, l := range lines {
		if name, _, ok := strings.Cut(l, ":"); ok && name == user {
			at = i
			break
		}
	}
	if a.remove {
		if at < 0 {
			return fmt.Errorf("user %q is not in %s; nothing was changed", user, file)
		}
		lines = append(lines[:at], lines[at+1:]...)
	} else {
		pw, err := password()
		if err != nil {
			return err
		}
		line, err := auth.PasswordLine(user, pw)
		if err != nil {
			return fmt.Errorf("user %q: %w", user, err)
		}
		if at < 0 {
			lines = append(lines, line+"\n")
		} else {
			lines[at] = line + "\n"
		}
	}
	return replaceFile(file, []byte(strings.Join(lines, "")), info)
}

// replaceFile writes data to a new file beside path and renames it over
// path, so a crash leaves the old file or the new one, never half of one.
// The new file takes old's mode and owner, or mode 0600 when old is nil.
func replaceFile(path string, data []byte, old fs.FileInfo) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	mode := fs.FileMode(0o600)
	if old != nil {
		mode = old.Mode().Perm()
		if err := keepOwner(tmp, old); err != nil {
			tmp.Close()
			return fmt.Errorf("give the new %s the owner of the old one: %w", path, err)
		}
	}
	err = tmp.Chmod(mode)
	if err == nil {
		_, err = tmp.Write(data)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	return err
}
