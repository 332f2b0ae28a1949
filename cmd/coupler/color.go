package main

import (
	"io"
	"os"

	"golang.org/x/term"
)

// isTerminal says whether w (or r) is a terminal: output for people, as
// opposed to a pipe, a file or a CI log.
func isTerminal(f any) bool {
	file, ok := f.(*os.File)
	return ok && term.IsTerminal(int(file.Fd()))
}

// dumbTerminal says whether the terminal announces it understands no
// escape sequences (TERM=dumb: Emacs shell buffers, some CI runners).
func dumbTerminal(getenv func(string) string) bool { return getenv("TERM") == "dumb" }

// colorOn says whether output to w may carry colour: w is a terminal that
// understands escape sequences, and the person has not asked for none by
// setting NO_COLOR to anything but the empty string (https://no-color.org).
func colorOn(w io.Writer, getenv func(string) string) bool {
	return colorAllowed(isTerminal(w), getenv)
}

// colorAllowed is colorOn for output that is a terminal or not.
func colorAllowed(terminal bool, getenv func(string) string) bool {
	return terminal && !dumbTerminal(getenv) && getenv("NO_COLOR") == ""
}

// red wraps s in red when on is set: errors, on a terminal with colour.
func red(s string, on bool) string {
	if !on {
		return s
	}
	return "\x1b[31m" + s + "\x1b[0m"
}
