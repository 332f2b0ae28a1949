package main

import (
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/couplerhq/coupler/connectors/config"
)

// flagError proposes the closest flag for an unknown one: cobra suggests
// subcommands for a misspelt command, but says only "unknown flag: --ful"
// for a misspelt flag.
func flagError(cmd *cobra.Command, err error) error {
	name, ok := strings.CutPrefix(err.Error(), "unknown flag: --")
	if !ok {
		return err
	}
	if s := closestFlag(cmd.Flags(), name); s != "" {
		return fmt.Errorf("%w (did you mean --%s?)", err, s)
	}
	return fmt.Errorf("%w (coupler %s --help lists the flags)", err, strings.TrimPrefix(cmd.CommandPath(), "coupler "))
}

// closestFlag is the flag of fs nearest to name: the one it begins when it
// begins only one (--auto for --auto-approve), else the one within two
// edits, else "".
func closestFlag(fs *pflag.FlagSet, name string) string {
	if i := strings.IndexByte(name, '='); i >= 0 {
		name = name[:i]
	}
	var names, prefixed []string
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		names = append(names, f.Name)
		if strings.HasPrefix(f.Name, name) {
			prefixed = append(prefixed, f.Name)
		}
	})
	if len(prefixed) == 1 {
		return prefixed[0]
	}
	sort.Strings(names)
	best, bestDist := "", 3
	for _, n := range names {
		if d := config.EditDistance(name, n); d < bestDist {
			best, bestDist = n, d
		}
	}
	return best
}
