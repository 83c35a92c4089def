package main

import (
	"errors"
	"flag"
	"time"
)

// durationArg is a flag holding a time.Duration whose error, unlike the
// flag package's "parse error", says what the flag wants: "--wait 5" is a
// common slip for 5s.
type durationArg struct{ p *time.Duration }

var errDurationSyntax = errors.New("want a duration with a unit, such as 5s, 250ms or 1m")

func (d durationArg) String() string {
	if d.p == nil {
		return "0s"
	}
	return d.p.String()
}

func (d durationArg) Set(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		return errDurationSyntax
	}
	*d.p = v
	return nil
}

// durationVar defines a durationArg flag, as flag.DurationVar does.
func durationVar(fs *flag.FlagSet, p *time.Duration, name string, value time.Duration, usage string) {
	*p = value
	fs.Var(durationArg{p}, name, usage)
}
