package main

import (
	"time"

	"github.com/spf13/pflag"

	"github.com/couplerhq/coupler/connectors/config"
)

// durationValue is a flag holding a duration parsed by config.ParseDuration.
type durationValue time.Duration

func (d *durationValue) Set(s string) error {
	v, err := config.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = durationValue(v)
	return nil
}

func (d *durationValue) String() string { return config.FormatDuration(time.Duration(*d)) }

// Type is what --help shows as the flag's argument.
func (d *durationValue) Type() string { return "duration" }

// durationFlag defines a duration flag that also accepts days and weeks;
// every duration flag of the CLI uses it, so that they all read alike.
func durationFlag(f *pflag.FlagSet, p *time.Duration, name string, value time.Duration, usage string) {
	*p = value
	f.Var((*durationValue)(p), name, usage)
	if value == 0 {
		// pflag takes "0", not "0s", for a zero default, which --help
		// then leaves out rather than print "(default 0s)" for a flag
		// whose usage says what unset means.
		f.Lookup(name).DefValue = "0"
	}
}
