package main

import (
	"flag"
	"fmt"
	"slices"
	"strings"
)

const exitCodesHelp = `Exit codes:
  0  success
  1  error: unreadable or corrupt files (state file, --table FILE),
     failed writes, ...; the message names the file
  2  usage: unknown command, flag or event, or a bad argument
  3  the lifecycle lock is held by another process (dispatch without
     --wait, or --wait ran out)
`

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
	fmt.Fprintf(w, "Usage: %s [--dir DIR] %s %s\n\n", progName, cmd.name, cmd.synopsis)
	fmt.Fprintf(w, "%s%s.\n", strings.ToUpper(cmd.summary[:1]), cmd.summary[1:])
	if cmd.details != "" {
		fmt.Fprintf(w, "\n%s", cmd.details)
	}
	fmt.Fprintf(w, "\nFlags:\n")
	cmd.flagSet(e, cmd.new()).VisitAll(func(f *flag.Flag) {
		if slices.Contains(cmd.hidden, f.Name) {
			return
		}
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
	})
	fmt.Fprintf(w, "\n%s", exitCodesHelp)
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
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "  %-9s %s\n", "help", "show the help of a command: help COMMAND")
	fmt.Fprintf(w, `
Global flags:
  --dir DIR  the lifecycle directory, holding lifecycle_state.json,
             .lifecycle.lock and logs/ (default $%s, else ~/.iai-mcp);
             also accepted after the command

Try "%s demo" first: it runs a simulated daemon in a new directory.

%s`, storeEnv, progName, exitCodesHelp)
}
