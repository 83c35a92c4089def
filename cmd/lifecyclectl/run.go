package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/iai-mcp/lifecycle"
)

const progName = "lifecyclectl"

// Exit codes, listed by "lifecyclectl help" and docs/cli.md.
const (
	exitOK     = 0 // success
	exitError  = 1 // anything else that went wrong
	exitUsage  = 2 // a mistake on the command line
	exitLocked = 3 // another process holds the lifecycle lock
)

// storeEnv names the directory used when --dir is not given.
const storeEnv = "IAI_MCP_STORE"

// env is what a command runs with.
type env struct {
	ctx    context.Context // ends on SIGINT or SIGTERM
	out    *bufio.Writer   // standard output; run flushes it
	stderr io.Writer
	now    func() time.Time
	dir    string // --dir as given; "" means the default
}

// run is the whole program: it parses args, runs the command, reports any
// error on stderr and returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	e := &env{ctx: ctx, out: bufio.NewWriter(stdout), stderr: stderr, now: time.Now}
	err := e.main(args)
	if ferr := e.out.Flush(); ferr != nil && err == nil {
		err = fmt.Errorf("write standard output: %w", ferr)
	}
	return e.report(err)
}

func (e *env) main(args []string) error {
	fs := flag.NewFlagSet(progName, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Var(&dirValue{&e.dir}, "dir", "")
	version := fs.Bool("version", false, "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return e.help("")
		}
		return usagef("", "%v", err)
	}
	rest := fs.Args()
	switch {
	case *version && len(rest) > 0:
		return usagef("", "--version takes no command (or run: %s version)", progName)
	case *version:
		rest = []string{"version"}
	case len(rest) == 0:
		return usagef("", "no command given")
	}
	name, rest := rest[0], rest[1:]
	cmd := lookup(name)
	if cmd == nil {
		return usagef("", "unknown command %q (commands: %s)", name, commandNames())
	}
	sub := cmd.new()
	pos, err := parseInterspersed(cmd.flagSet(e, sub), rest)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return e.help(name)
		}
		return usagef(name, "%v", err)
	}
	return sub.run(e, pos)
}

// report prints err and returns the exit code it calls for.
func (e *env) report(err error) int {
	var u *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &u):
		prefix, help := progName, progName+" help"
		if u.cmd != "" {
			prefix, help = progName+" "+u.cmd, help+" "+u.cmd
		}
		fmt.Fprintf(e.stderr, "%s: %s\nRun '%s' for usage.\n", prefix, u.msg, help)
		return exitUsage
	case errors.Is(err, lifecycle.ErrLocked), errors.Is(err, lifecycle.ErrDaemonRunning):
		fmt.Fprintf(e.stderr, "%s: %v\n", progName, err)
		return exitLocked
	}
	fmt.Fprintf(e.stderr, "%s: %v\n", progName, err)
	for _, h := range hints(err, e.invocation()) {
		fmt.Fprintf(e.stderr, "%s: %s\n", progName, h)
	}
	return exitError
}

// invocation is how to run this command again on the same directory, for
// messages that suggest a next command.
func (e *env) invocation() string {
	if e.dir == "" {
		return progName
	}
	return progName + " --dir " + shellQuote(e.dir)
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./~+:@%,=") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// dirEnv names the directory of any daemon; it wins over storeEnv, so a
// daemon of another kind never needs the Python daemon's names.
const dirEnv = "LIFECYCLE_DIR"

// storeDir is --dir, else $LIFECYCLE_DIR, else $IAI_MCP_STORE, else
// ~/.iai-mcp: the Python daemon's directory. how says which, for messages.
func (e *env) storeDir() (dir, how string, err error) {
	if e.dir != "" {
		return e.dir, "given with --dir", nil
	}
	if d := os.Getenv(dirEnv); d != "" {
		return d, "from $" + dirEnv, nil
	}
	if d := os.Getenv(storeEnv); d != "" {
		return d, "from $" + storeEnv, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", "", fmt.Errorf("no --dir, no $%s and no home directory: %w", storeEnv, err)
	}
	return filepath.Join(home, ".iai-mcp"), "the default; give --dir DIR or set $" + storeEnv, nil
}

// lifecycleDir is the directory cmd works on, which must exist: no command
// but "dispatch --init" creates it, so that a mistyped --dir is an error
// rather than an empty directory that reads as a new machine.
func (e *env) lifecycleDir(cmd string) (string, error) {
	dir, how, err := e.storeDir()
	if err != nil {
		return "", err
	}
	if err := checkDir(cmd, dir, how); err != nil {
		return "", err
	}
	return dir, nil
}

// checkDir says, as an *fs.PathError naming dir, why dir is not a
// directory, if it is not.
func checkDir(op, dir, how string) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &fs.PathError{Op: op, Path: dir, Err: fmt.Errorf("no such directory (%s)", how)}
	case err != nil:
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return &fs.PathError{Op: op, Path: dir, Err: err}
	case !fi.IsDir():
		return &fs.PathError{Op: op, Path: dir, Err: fmt.Errorf("not a directory (%s)", how)}
	}
	return nil
}

// usageError is a mistake on the command line (exit 2).
type usageError struct {
	cmd string // the command it concerns, or "" for the top level
	msg string
}

func (u *usageError) Error() string { return u.msg }

func usagef(cmd, format string, args ...any) error {
	return &usageError{cmd: cmd, msg: fmt.Sprintf(format, args...)}
}

// dirValue is the --dir flag: a directory that may not be empty.
type dirValue struct{ p *string }

func (d *dirValue) String() string {
	if d.p == nil {
		return ""
	}
	return *d.p
}

func (d *dirValue) Set(s string) error {
	if s == "" {
		return errors.New("empty directory name")
	}
	*d.p = s
	return nil
}
