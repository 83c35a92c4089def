package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/iai-mcp/lifecycle"
)

const completionDetails = `Prints a script that completes lifecyclectl's commands, their flags, the
events of dispatch (the library's table), the formats of graph, directories
after --dir and files after --table. Load it with:

  bash:  source <(lifecyclectl completion bash)    (in ~/.bashrc)
  zsh:   source <(lifecyclectl completion zsh)     (after compinit, in ~/.zshrc)
  fish:  lifecyclectl completion fish | source     (in config.fish, or save it as
         ~/.config/fish/completions/lifecyclectl.fish)
`

type completionCmd struct{}

func (*completionCmd) flags(*flag.FlagSet) {}

// shells are the shells completion writes scripts for.
var shells = []string{"bash", "zsh", "fish"}

func (*completionCmd) run(e *env, args []string) error {
	if len(args) != 1 {
		return usagef("completion", "want one shell: %s", strings.Join(shells, ", "))
	}
	c := completionsFor(e)
	switch args[0] {
	case "bash":
		c.bash(e.out)
	case "zsh":
		c.zsh(e.out)
	case "fish":
		c.fish(e.out)
	default:
		return usagef("completion", "unknown shell %q: want %s", args[0], strings.Join(shells, ", "))
	}
	return nil
}

// completions is what the scripts complete: every command, its flags, and
// what its arguments may be.
type completions struct {
	cmds []cmdCompletion
}

type cmdCompletion struct {
	name, summary string
	flags         []flagCompletion
	args          []string // the words its arguments may be, if known
}

type flagCompletion struct {
	name, usage string
	value       string   // "": no value; "dir", "file", "word" (one of words), "any"
	words       []string // for "word"
}

func completionsFor(e *env) completions {
	var out completions
	for _, c := range commands {
		cc := cmdCompletion{name: c.name, summary: c.summary}
		for _, f := range c.visibleFlags(e) {
			fc := flagCompletion{name: f.Name, usage: firstClause(f.Usage), value: "any"}
			if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
				fc.value = ""
			}
			switch {
			case f.Name == "dir":
				fc.value = "dir"
			case f.Name == "table":
				fc.value = "file"
			case c.name == "graph" && f.Name == "format":
				fc.value, fc.words = "word", []string{"mermaid", "dot", "json"}
			}
			cc.flags = append(cc.flags, fc)
		}
		switch c.name {
		case "dispatch":
			cc.args = eventNames(lifecycle.DefaultTable())
		case "completion":
			cc.args = shells
		case "help":
			for _, h := range commands {
				cc.args = append(cc.args, h.name)
			}
		}
		out.cmds = append(out.cmds, cc)
	}
	return out
}

// firstClause is a flag's usage up to its first parenthesis or
// semicolon, for the shells that show one.
func firstClause(s string) string {
	s = strings.ReplaceAll(s, "`", "")
	if i := strings.IndexAny(s, "(;"); i > 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}

func (c completions) names() string {
	var n []string
	for _, cmd := range c.cmds {
		n = append(n, cmd.name)
	}
	return strings.Join(n, " ")
}

func (c completions) bash(w io.Writer) {
	fmt.Fprintf(w, `# bash completion for %[1]s; load it with: source <(%[1]s completion bash)
_%[1]s() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} cmd="" i
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
            --dir) ((i++)) ;;
            -*) ;;
            *) cmd=${COMP_WORDS[i]}; break ;;
        esac
    done
    case $prev in
        --dir) COMPREPLY=($(compgen -d -- "$cur")); return ;;
        --table) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    esac
    local words
    case $cmd in
        "") words="%[2]s --dir --help --version" ;;
`, progName, c.names())
	for _, cmd := range c.cmds {
		var values []string
		var flags []string
		for _, f := range cmd.flags {
			flags = append(flags, "--"+f.name)
			switch f.value {
			case "word":
				values = append(values, fmt.Sprintf("            --%s) COMPREPLY=($(compgen -W %q -- \"$cur\")); return ;;", f.name, strings.Join(f.words, " ")))
			case "any":
				values = append(values, fmt.Sprintf("            --%s) return ;;", f.name))
			}
		}
		fmt.Fprintf(w, "        %s)\n", cmd.name)
		if len(values) > 0 {
			fmt.Fprintf(w, "            case $prev in\n    %s\n            esac\n", strings.Join(values, "\n    "))
		}
		fmt.Fprintf(w, "            words=%q ;;\n", strings.TrimSpace(strings.Join(cmd.args, " ")+" "+strings.Join(flags, " ")))
	}
	fmt.Fprintf(w, `    esac
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -F _%[1]s %[1]s
`, progName)
}

// zshQuote quotes s for zsh, within single quotes.
func zshQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func (c completions) zsh(w io.Writer) {
	fmt.Fprintf(w, `#compdef %[1]s
# zsh completion for %[1]s; load it with: source <(%[1]s completion zsh)
_%[1]s() {
    local cmd="" i
    for ((i = 2; i < CURRENT; i++)); do
        case ${words[i]} in
            --dir) ((i++)) ;;
            -*) ;;
            *) cmd=${words[i]}; break ;;
        esac
    done
    case ${words[CURRENT-1]} in
        --dir) _files -/; return ;;
        --table) _files; return ;;
    esac
    case $cmd in
        "")
            local -a cmds
            cmds=(
`, progName)
	for _, cmd := range c.cmds {
		fmt.Fprintf(w, "                %s\n", zshQuote(cmd.name+":"+cmd.summary))
	}
	fmt.Fprintf(w, `            )
            _describe -t commands command cmds
            compadd -- --dir --help --version ;;
`)
	for _, cmd := range c.cmds {
		fmt.Fprintf(w, "        %s)\n", cmd.name)
		var values, flags []string
		for _, f := range cmd.flags {
			flags = append(flags, "--"+f.name)
			switch f.value {
			case "word":
				values = append(values, fmt.Sprintf("                --%s) compadd -- %s; return ;;", f.name, strings.Join(f.words, " ")))
			case "any":
				values = append(values, fmt.Sprintf("                --%s) return ;;", f.name))
			}
		}
		if len(values) > 0 {
			fmt.Fprintf(w, "            case ${words[CURRENT-1]} in\n%s\n            esac\n", strings.Join(values, "\n"))
		}
		fmt.Fprintf(w, "            compadd -- %s ;;\n", strings.TrimSpace(strings.Join(cmd.args, " ")+" "+strings.Join(flags, " ")))
	}
	fmt.Fprintf(w, `    esac
}
compdef _%[1]s %[1]s
`, progName)
}

// fishQuote quotes s for fish, within single quotes.
func fishQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

func (c completions) fish(w io.Writer) {
	p := progName
	fmt.Fprintf(w, "# fish completion for %[1]s; load it with: %[1]s completion fish | source\n", p)
	fmt.Fprintf(w, "complete -c %s -f\n", p)
	fmt.Fprintf(w, "complete -c %s -n __fish_use_subcommand -l dir -x -a '(__fish_complete_directories)' -d 'the lifecycle directory'\n", p)
	fmt.Fprintf(w, "complete -c %s -n __fish_use_subcommand -l help -d 'show the help'\n", p)
	fmt.Fprintf(w, "complete -c %s -n __fish_use_subcommand -l version -d 'print the version'\n", p)
	for _, cmd := range c.cmds {
		fmt.Fprintf(w, "complete -c %s -n __fish_use_subcommand -a %s -d %s\n", p, cmd.name, fishQuote(cmd.summary))
	}
	for _, cmd := range c.cmds {
		cond := fishQuote("__fish_seen_subcommand_from " + cmd.name)
		if len(cmd.args) > 0 {
			fmt.Fprintf(w, "complete -c %s -n %s -a %s\n", p, cond, fishQuote(strings.Join(cmd.args, " ")))
		}
		for _, f := range cmd.flags {
			opt := ""
			switch f.value {
			case "dir":
				opt = " -x -a '(__fish_complete_directories)'"
			case "file":
				opt = " -r -F"
			case "word":
				opt = " -x -a " + fishQuote(strings.Join(f.words, " "))
			case "any":
				opt = " -x"
			}
			fmt.Fprintf(w, "complete -c %s -n %s -l %s%s -d %s\n", p, cond, f.name, opt, fishQuote(f.usage))
		}
	}
}
