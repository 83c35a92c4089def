package main

import (
	"flag"
	"io"
	"slices"
	"strings"
)

// subcommand is one of lifecyclectl's commands. flags defines its flags on
// fs; run gets the positional arguments once they are parsed.
type subcommand interface {
	flags(fs *flag.FlagSet)
	run(e *env, args []string) error
}

// command describes a subcommand for dispatching and for help.
type command struct {
	name     string
	synopsis string   // what follows the name on the usage line
	summary  string   // one line for the command list
	details  string   // more help, or ""
	hidden   []string // flags left out of the help: test hooks
	noDir    bool     // reads no lifecycle directory: a --dir is accepted and ignored
	errors   string   // what exit 1 means for it, for its help
	locks    bool     // may find the lifecycle lock held: exit 3
	busy     string   // when exit 3 comes, for its help; "" for a lock without --wait
	new      func() subcommand
}

// commands in the order help lists them.
var commands = []command{
	{
		name: "status", synopsis: "[--json] [--table FILE] [--watch [--limit N]]",
		summary: "show the state: how long in it, last activity, sequences, flags",
		details: statusDetails,
		hidden:  []string{"ready"},
		errors:  "no such directory, or the state file or --table FILE cannot be read\n     or is corrupt; the message names it",
		new:     func() subcommand { return &statusCmd{} },
	},
	{
		name: "dispatch", synopsis: "EVENT [--sleep-eligible] [--still-idle] [--reason REASON] [--wait DURATION] [--table FILE] [--init] [--json]",
		summary: "dispatch an event to the machine; prints FROM -> TO or no transition",
		details: dispatchDetails(),
		errors:  "no such directory (without --init), a corrupt state file, an\n     unreadable --table FILE, a failed write; the message names the file",
		locks:   true,
		new:     func() subcommand { return &dispatchCmd{} },
	},
	{
		name: "log", synopsis: "[--since T] [--until T] [--kind K] [--follow] [--json] [--limit N]",
		summary: "print the event log, across days and rotated files",
		details: logDetails,
		hidden:  []string{"ready"},
		errors:  "no such directory, or a log file cannot be read; the message names it",
		new:     func() subcommand { return &logCmd{} },
	},
	{
		name: "history", synopsis: "[--at T [--json] | [--since T] [--until T] [--json | [--table FILE] [--svg]]]",
		summary: "the state at a time, or each UTC day's time in each state, from the log",
		details: historyDetails,
		errors:  "no such directory, no transition in the log (--at), no log file to\n     start the period from (give --since), or a log file or --table FILE\n     cannot be read; the message names it",
		new:     func() subcommand { return &historyCmd{} },
	},
	{
		name: "rotate", synopsis: "[--retention-days N] [--json]",
		summary: "compress log files older than the retention",
		details: rotateDetails,
		errors:  "no such directory, or a log file could not be compressed; the\n     message names it",
		new:     func() subcommand { return &rotateCmd{} },
	},
	{
		name: "repair", synopsis: "[--dry-run] [--json] [--table FILE]",
		summary: "move a corrupt state file aside and rebuild the record from the log",
		details: repairDetails,
		errors:  "no such directory, a state file that cannot be read (not a content\n     problem), or a failed write; the message names the file",
		locks:   true,
		busy:    ", or a daemon runs on\n     the directory",
		new:     func() subcommand { return &repairCmd{} },
	},
	{
		name: "graph", synopsis: "[--format mermaid|dot|json] [--table FILE]",
		summary: "print the state diagram, generated from the transition table",
		details: graphDetails,
		noDir:   true,
		errors:  "the --table FILE cannot be read or is not a valid table; the\n     message names it",
		new:     func() subcommand { return &graphCmd{} },
	},
	{
		name: "demo", synopsis: "[--dir D] [--pace DURATION]",
		summary: "run a simulated daemon through its lifecycle in a new directory",
		details: demoDetails,
		errors:  "the directory is not empty, or a file could not be written",
		new:     func() subcommand { return &demoCmd{} },
	},
	{
		name: "version", synopsis: "[--json]",
		summary: "print the version, from the build information",
		details: versionDetails,
		noDir:   true,
		errors:  "standard output could not be written",
		new:     func() subcommand { return &versionCmd{} },
	},
	{
		name: "completion", synopsis: "bash|zsh|fish",
		summary: "print a shell completion script",
		details: completionDetails,
		noDir:   true,
		errors:  "standard output could not be written",
		new:     func() subcommand { return &completionCmd{} },
	},
	{
		name: "help", synopsis: "[COMMAND]",
		summary: "show the help of lifecyclectl, or of a command",
		noDir:   true,
		errors:  "standard output could not be written",
		new:     func() subcommand { return &helpCmd{} },
	},
}

func lookup(name string) *command {
	for i := range commands {
		if commands[i].name == name {
			return &commands[i]
		}
	}
	return nil
}

func commandNames() string {
	names := make([]string, len(commands))
	for i, c := range commands {
		names[i] = c.name
	}
	return strings.Join(names, ", ")
}

// flagSet is the command's flags, plus the global --dir unless the
// command has a --dir of its own. A command that reads no directory takes
// --dir too and ignores it, so that an alias carrying --dir works for every
// command; its help leaves it out.
func (c *command) flagSet(e *env, sub subcommand) *flag.FlagSet {
	fs := flag.NewFlagSet(progName+" "+c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	sub.flags(fs)
	if fs.Lookup("dir") == nil {
		fs.Var(&dirValue{&e.dir}, "dir", "the lifecycle directory `DIR` (default $LIFECYCLE_DIR, else $IAI_MCP_STORE, else ~/.iai-mcp)")
	}
	return fs
}

// visibleFlags are the flags the command's help and completion show.
func (c *command) visibleFlags(e *env) []*flag.Flag {
	var out []*flag.Flag
	c.flagSet(e, c.new()).VisitAll(func(f *flag.Flag) {
		if !slices.Contains(c.hidden, f.Name) && !(c.noDir && f.Name == "dir") {
			out = append(out, f)
		}
	})
	return out
}

// parseInterspersed parses fs's flags wherever they are among args, as in
// "dispatch idle_30min --sleep-eligible", and returns the other arguments.
// Everything after "--" is an argument.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}
