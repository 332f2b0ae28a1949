package mappings

import (
	"fmt"
	"sort"
	"strings"

	"github.com/couplerhq/coupler/connectors/config"
)

// Severity says whether a Diagnostic stops the project from running.
type Severity int

// Severities, most severe first.
const (
	Error Severity = iota
	Warning
	// Note tells something worth knowing that is no problem, e.g. that a
	// lookup validate --online checked may point to several entity sets.
	Note
)

// Pos is a position in a source file. Line and Col are 1-based; a zero Line
// means the position is the whole file.
type Pos = config.Pos

// Diagnostic is one problem found in a project, pointing at where it is.
type Diagnostic struct {
	Severity Severity
	Pos
	Message string
}

// String renders the diagnostic as "file:line:col: message", with
// "warning: " before the message for warnings.
func (d Diagnostic) String() string {
	if d.Severity == Warning {
		return d.Pos.String() + ": warning: " + d.Message
	}
	if d.Severity == Note {
		return d.Pos.String() + ": note: " + d.Message
	}
	return d.Pos.String() + ": " + d.Message
}

// Diagnostics is a list of problems. As an error it prints every problem,
// one per line, in file and line order.
type Diagnostics []Diagnostic

// Errorf appends an error at pos.
func (ds *Diagnostics) Errorf(pos Pos, format string, args ...any) {
	*ds = append(*ds, Diagnostic{Severity: Error, Pos: pos, Message: fmt.Sprintf(format, args...)})
}

// Warnf appends a warning at pos.
func (ds *Diagnostics) Warnf(pos Pos, format string, args ...any) {
	*ds = append(*ds, Diagnostic{Severity: Warning, Pos: pos, Message: fmt.Sprintf(format, args...)})
}

// Notef appends a note at pos.
func (ds *Diagnostics) Notef(pos Pos, format string, args ...any) {
	*ds = append(*ds, Diagnostic{Severity: Note, Pos: pos, Message: fmt.Sprintf(format, args...)})
}

// HasErrors reports whether any diagnostic is an error.
func (ds Diagnostics) HasErrors() bool {
	for _, d := range ds {
		if d.Severity == Error {
			return true
		}
	}
	return false
}

// Sort orders the diagnostics by file, line and column, so that output is
// stable and reads top to bottom.
func (ds Diagnostics) Sort() {
	sort.SliceStable(ds, func(i, j int) bool {
		a, b := ds[i], ds[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
}

// Err returns the diagnostics as an error if any of them is an error, else nil.
func (ds Diagnostics) Err() error {
	if !ds.HasErrors() {
		return nil
	}
	return ds
}

// Error renders every diagnostic, one per line.
func (ds Diagnostics) Error() string {
	var b strings.Builder
	for i, d := range ds {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(d.String())
	}
	return b.String()
}
