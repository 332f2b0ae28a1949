package main

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestApprove checks when apply, sync and couple --match ask before they
// write, and what the answers do: only on a terminal, not with
// --auto-approve, and only "yes" goes on.
func TestApprove(t *testing.T) {
	for _, tc := range []struct {
		name     string
		terminal bool
		auto     bool
		stdin    string
		asked    bool
		err      string
	}{
		{name: "yes", terminal: true, stdin: "yes\n", asked: true},
		{name: "yes with spaces", terminal: true, stdin: "  yes \r\n", asked: true},
		{name: "no", terminal: true, stdin: "no\n", asked: true, err: "aborted; nothing written"},
		{name: "y is not yes", terminal: true, stdin: "y\n", asked: true, err: "aborted"},
		{name: "no answer", terminal: true, stdin: "", asked: true, err: "no answer on stdin; nothing written (use --auto-approve"},
		{name: "auto-approve", terminal: true, auto: true},
		{name: "no terminal: scripts and CI go on", stdin: "no\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			g := &globals{stdout: &out, autoApprove: tc.auto, stdinTerminal: func(io.Reader) bool { return tc.terminal }}
			cmd := &cobra.Command{}
			cmd.SetIn(strings.NewReader(tc.stdin))
			err := g.approve(cmd)
			if asked := strings.Contains(out.String(), "Only 'yes' will be accepted"); asked != tc.asked {
				t.Errorf("asked = %v, want %v (%q)", asked, tc.asked, out.String())
			}
			switch {
			case tc.err == "" && err != nil:
				t.Errorf("err = %v, want none", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Errorf("err = %v, want %q", err, tc.err)
			}
			var ee *exitError
			if err != nil && (!errors.As(err, &ee) || ee.code != 1) {
				t.Errorf("err = %#v, want exit status 1", err)
			}
		})
	}
}

// TestAutoApproveFlags checks that every command that writes from a plan
// takes --auto-approve, and that serve, which asks no one, does not.
func TestAutoApproveFlags(t *testing.T) {
	root := newRoot(&globals{})
	for _, path := range [][]string{{"apply"}, {"sync"}, {"couple"}} {
		cmd, _, err := root.Find(path)
		if err != nil || cmd.Flags().Lookup("auto-approve") == nil {
			t.Errorf("coupler %s has no --auto-approve (%v)", path[0], err)
		}
	}
	if cmd, _, _ := root.Find([]string{"serve"}); cmd.Flags().Lookup("auto-approve") != nil {
		t.Error("coupler serve has --auto-approve: it never asks")
	}
}

// TestWritePrinterAsksNotInJSON checks that a command that would ask on a
// terminal refuses --format json there without --auto-approve: the
// question would break the JSON on stdout.
func TestWritePrinterAsksNotInJSON(t *testing.T) {
	for _, tc := range []struct {
		name     string
		format   string
		terminal bool
		auto     bool
		err      string
	}{
		{name: "text on a terminal asks", format: "text", terminal: true},
		{name: "json on a terminal", format: "json", terminal: true, err: "add --auto-approve"},
		{name: "json on a terminal with --auto-approve", format: "json", terminal: true, auto: true},
		{name: "json in a script", format: "json"},
		{name: "unknown format", format: "yaml", err: "--format must be text or json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := &globals{stdout: io.Discard, autoApprove: tc.auto, stdinTerminal: func(io.Reader) bool { return tc.terminal }}
			pr, err := g.writePrinter(&cobra.Command{}, tc.format)
			switch {
			case tc.err == "" && (err != nil || string(pr.Format) != tc.format):
				t.Errorf("writePrinter(%q) = %v, %v", tc.format, pr, err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Errorf("err = %v, want %q", err, tc.err)
			}
		})
	}
}
