package main

import (
	"slices"
	"testing"

	"github.com/spf13/cobra"
)

// noFormat are the commands without --format text|json, each with why.
var noFormat = map[string]string{
	"coupler":            "runs no command of its own",
	"coupler state":      "runs no command of its own",
	"coupler completion": "prints a shell script (cobra's)",
	"coupler help":       "prints help",
	"coupler serve":      "a server: --log-format json for its log, the API for JSON",
	"coupler demo":       "a walkthrough for people, against built-in fakes",
	"coupler schema":     "prints a JSON Schema, JSON already",
}

// TestEveryCommandSpeaksJSON walks the command tree: every command has
// --format with json among its values (docs/cli-json.md), but those
// noFormat lists.
func TestEveryCommandSpeaksJSON(t *testing.T) {
	var walk func(cmd *cobra.Command)
	walk = func(cmd *cobra.Command) {
		path := cmd.CommandPath()
		if path == "coupler completion" {
			return // cobra's, one script per shell
		}
		if _, ok := noFormat[path]; !ok {
			f := cmd.Flags().Lookup("format")
			switch {
			case f == nil:
				t.Errorf("%s has no --format", path)
			default:
				values, listed := formatValues[path]
				if listed && !slices.Contains(values, "json") {
					t.Errorf("%s --format offers %v, no json", path, values)
				}
			}
		}
		for _, sub := range cmd.Commands() {
			walk(sub)
		}
	}
	root := newRoot(&globals{})
	root.InitDefaultCompletionCmd()
	root.InitDefaultHelpCmd()
	walk(root)
}
