package main

import (
	"flag"
	"io"
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
	new      func() subcommand
}

// commands in the order help lists them.
var commands = []command{
	{
		name: "status", synopsis: "[--json] [--table FILE] [--watch [--limit N]]",
		summary: "show the state: how long in it, last activity, sequences, flags",
		details: statusDetails,
		hidden:  []string{"ready"},
		new:     func() subcommand { return &statusCmd{} },
	},
	{
		name: "dispatch", synopsis: "EVENT [--sleep-eligible] [--still-idle] [--wait DURATION] [--table FILE]",
		summary: "dispatch an event to the machine; prints FROM -> TO or no transition",
		details: dispatchDetails(),
		new:     func() subcommand { return &dispatchCmd{} },
	},
	{
		name: "log", synopsis: "[--since T] [--until T] [--kind K] [--follow] [--json] [--limit N]",
		summary: "print the event log, across days and rotated files",
		details: logDetails,
		hidden:  []string{"ready"},
		new:     func() subcommand { return &logCmd{} },
	},
	{
		name: "rotate", synopsis: "[--retention-days N]",
		summary: "compress log files older than the retention",
		details: rotateDetails,
		new:     func() subcommand { return &rotateCmd{} },
	},
	{
		name: "graph", synopsis: "[--format mermaid|dot] [--table FILE]",
		summary: "print the state diagram, generated from the transition table",
		details: graphDetails,
		new:     func() subcommand { return &graphCmd{} },
	},
	{
		name: "demo", synopsis: "[--dir D] [--pace DURATION]",
		summary: "run a simulated daemon through its lifecycle in a new directory",
		details: demoDetails,
		new:     func() subcommand { return &demoCmd{} },
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
// command has a --dir of its own.
func (c *command) flagSet(e *env, sub subcommand) *flag.FlagSet {
	fs := flag.NewFlagSet(progName+" "+c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	sub.flags(fs)
	if fs.Lookup("dir") == nil {
		fs.Var(&dirValue{&e.dir}, "dir", "the lifecycle directory `DIR` (default $IAI_MCP_STORE, else ~/.iai-mcp)")
	}
	return fs
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
