package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/couplerhq/coupler/engine"
)

// applyQuestion is what apply, sync and couple --match ask before writing,
// in Terraform's words, which people who approve plans know.
const applyQuestion = "\nDo you want to perform these actions?\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: "

// asks says whether a command that writes to the systems asks before it
// does: on a terminal, unless --auto-approve. Scripts, CI jobs and serve
// read no terminal, and go on as before without being asked.
func (g *globals) asks(cmd *cobra.Command) bool {
	if g.autoApprove {
		return false
	}
	interactive := g.stdinTerminal
	if interactive == nil {
		interactive = func(r io.Reader) bool { return isTerminal(r) }
	}
	return interactive(cmd.InOrStdin())
}

// approve asks whether to perform the actions just shown, when the command
// asks (g.asks); anything but "yes" stops it with exit status 1.
func (g *globals) approve(cmd *cobra.Command) error {
	if !g.asks(cmd) {
		return nil
	}
	return askYes(cmd.InOrStdin(), g.stdout, applyQuestion, "nothing written", "use --auto-approve to apply without asking")
}

// confirmSaved shows the saved plan apply is about to apply (the latest
// when id is empty) and asks, when the command asks.
func confirmSaved(cmd *cobra.Command, g *globals, e *engine.Engine, id string) error {
	if !g.asks(cmd) {
		return nil
	}
	if err := printPlan(cmd, e, id, "text", 20); err != nil {
		return err
	}
	return g.approve(cmd)
}

// askYes prints question on w and reads one line from in: "yes" goes on,
// anything else, or no answer, stops with exit status 1 and says what was
// not done and how not to be asked.
func askYes(in io.Reader, w io.Writer, question, notDone, hint string) error {
	fmt.Fprint(w, question)
	answer, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && answer == "" {
		fmt.Fprintln(w)
		if errors.Is(err, io.EOF) {
			return &exitError{code: 1, err: fmt.Errorf("no answer on stdin; %s (%s)", notDone, hint)}
		}
		return &exitError{code: 1, err: fmt.Errorf("reading the answer: %v; %s", err, notDone)}
	}
	if strings.TrimSpace(answer) != "yes" {
		return &exitError{code: 1, err: errors.New("aborted; " + notDone)}
	}
	return nil
}
