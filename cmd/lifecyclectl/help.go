package main

import (
	"flag"
	"fmt"
	"slices"
	"strings"
)

// exitCodesHelp is the program's exit codes, all commands together.
const exitCodesHelp = `Exit codes:
  0  success
  1  error: no such directory, unreadable or corrupt files (state file,
     log, --table FILE), failed writes, ...; the message names the file
  2  usage: unknown command, flag or event, a flag the command does not
     take, or a bad argument
  3  the lifecycle lock is held by another process (dispatch without
     --wait, or --wait ran out), or a daemon runs on the directory (repair)
`

// exitCodes is the help's list of the exit codes c may end with.
func (c *command) exitCodes() string {
	var b strings.Builder
	b.WriteString("Exit codes:\n  0  success\n")
	fmt.Fprintf(&b, "  1  error: %s\n", c.errors)
	b.WriteString("  2  usage: an unknown flag, a flag " + c.name + " does not take, or a bad\n     argument\n")
	if c.locks {
		busy := c.busy
		if busy == "" {
			busy = " (without --wait, or\n     --wait ran out)"
		}
		b.WriteString("  3  the lifecycle lock is held by another process" + busy + "\n")
	}
	return b.String()
}

// usageLine is "Usage: lifecyclectl [--dir DIR] NAME SYNOPSIS", without
// the --dir of a command that reads no directory.
func (c *command) usageLine() string {
	dir := "[--dir DIR] "
	if c.noDir {
		dir = ""
	}
	return fmt.Sprintf("Usage: %s %s%s %s", progName, dir, c.name, c.synopsis)
}

// helpCmd is "help [COMMAND]".
type helpCmd struct{}

func (*helpCmd) flags(*flag.FlagSet) {}

func (*helpCmd) run(e *env, args []string) error {
	switch len(args) {
	case 0:
		e.topHelp()
		return nil
	case 1:
		return e.help(args[0])
	}
	return usagef("help", "help takes at most one command")
}

// help prints the help of the command name, or the program's when name is
// "", to standard output.
func (e *env) help(name string) error {
	if name == "" {
		e.topHelp()
		return nil
	}
	cmd := lookup(name)
	if cmd == nil {
		return usagef("", "unknown command %q (commands: %s)", name, commandNames())
	}
	w := e.out
	fmt.Fprintf(w, "%s\n\n", cmd.usageLine())
	fmt.Fprintf(w, "%s%s.\n", strings.ToUpper(cmd.summary[:1]), cmd.summary[1:])
	if cmd.details != "" {
		fmt.Fprintf(w, "\n%s", cmd.details)
	}
	if flags := cmd.visibleFlags(e); len(flags) > 0 {
		fmt.Fprintf(w, "\nFlags:\n")
		for _, f := range flags {
			arg, usage := flag.UnquoteUsage(f)
			if _, isBool := f.Value.(interface{ IsBoolFlag() bool }); isBool {
				arg = ""
			}
			left := "--" + f.Name
			if arg != "" {
				left += " " + arg
			}
			if !slices.Contains([]string{"", "false", "0", "0s"}, f.DefValue) {
				usage += fmt.Sprintf(" (default %s)", f.DefValue)
			}
			fmt.Fprintf(w, "  %-22s %s\n", left, usage)
		}
	}
	fmt.Fprintf(w, "\n%s", cmd.exitCodes())
	return nil
}

// wrapWords joins words with ", " into lines of at most width bytes, each
// indented by indent.
func wrapWords(words []string, indent string, width int) string {
	var b strings.Builder
	line := indent
	for i, w := range words {
		if i < len(words)-1 {
			w += ","
		}
		if line != indent && len(line)+1+len(w) > width {
			b.WriteString(line + "\n")
			line = indent
		}
		if line != indent {
			line += " "
		}
		line += w
	}
	return b.String() + line + "\n"
}

func (e *env) topHelp() {
	w := e.out
	fmt.Fprintf(w, `%s inspects and drives the lifecycle of a daemon built on
github.com/iai-mcp/lifecycle: its state file, lock and event log.

Usage: %s [--dir DIR] COMMAND [flags] [arguments]

Commands:
`, progName, progName)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, `
Global flags:
  --dir DIR  the lifecycle directory, holding lifecycle_state.json,
             .lifecycle.lock and logs/ (default $%s, else ~/.iai-mcp);
             also accepted after the command. It must exist: only
             "dispatch --init" creates it.
  --version  print the version (as the version command)

Try "%s demo" first: it runs a simulated daemon in a new directory.

%s`, storeEnv, progName, exitCodesHelp)
}
