package main

import (
	"errors"

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

// writePrinter is printer for a command that writes to the systems and,
// on a terminal, asks before it does (prompt.go). With --format json it
// must not ask, as the question would break the JSON on stdout: there it
// wants --auto-approve, as Terraform's -json does.
func (g *globals) writePrinter(cmd *cobra.Command, format string) (*view.Printer, error) {
	pr, err := g.printer(format)
	if err != nil {
		return nil, err
	}
	if pr.Format == view.JSON && g.asks(cmd) {
		return nil, errors.New("--format json asks no question on a terminal: add --auto-approve")
	}
	return pr, nil
}
