package main

import (
	"github.com/spf13/cobra"

	"github.com/couplerhq/coupler/cmd/coupler/view"
)

// formatFlag adds --format text|json to a command that lists something.
func formatFlag(cmd *cobra.Command, format *string) {
	cmd.Flags().StringVar(format, "format", "text", "output format: text, or json (docs/cli-json.md)")
}

// printer is the view.Printer of a listing command for its --format, on
// the command's stdout, scrubbing what the project's secrets may have
// left in stored messages.
func (g *globals) printer(format string) (*view.Printer, error) {
	f, err := view.ParseFormat(format)
	if err != nil {
		return nil, err
	}
	return &view.Printer{W: g.stdout, Format: f, Redact: g.redactor.String}, nil
}
