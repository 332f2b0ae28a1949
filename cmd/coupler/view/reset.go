package view

import (
	"github.com/couplerhq/coupler/mappings/scaffold"
)

// Reset is what coupler reset did, or would do (a dry run, or conflicts
// that stopped it). Text prints as reset goes, with a question between the
// diffs and the writes (reset.go); JSON prints this once, at the end.
type Reset struct {
	Plan   *scaffold.Reset
	DryRun bool
	// Applied says the files and coupler.lock were written.
	Applied bool
	// Cleared are the mappings whose watermarks a plain reset cleared,
	// each with how many couplings it kept.
	Cleared []WatermarksCleared
	// NoState says there was no state database, so no watermarks to clear.
	NoState bool
}

// WatermarksCleared is a mapping whose watermarks reset cleared.
type WatermarksCleared struct {
	Mapping       string `json:"mapping"`
	CouplingsKept int64  `json:"couplings_kept"`
}

// ResetJSON is reset --format json's output.
type ResetJSON struct {
	Defaults           string          `json:"defaults"`
	KeepCustomizations bool            `json:"keep_customizations"`
	DryRun             bool            `json:"dry_run"`
	Files              []ResetFileJSON `json:"files"`
	// NotSelected are the mappings new in the defaults that --mapping
	// left out.
	NotSelected []string       `json:"not_selected"`
	Conflicts   []ConflictJSON `json:"conflicts"`
	// Applied is true once the files and coupler.lock were written;
	// false for a dry run, conflicts, or nothing to change.
	Applied           bool                `json:"applied"`
	WatermarksCleared []WatermarksCleared `json:"watermarks_cleared"`
	// NoState is true when a plain reset found no state database, and so
	// no watermarks to clear.
	NoState bool `json:"no_state"`
}

// ResetFileJSON is one file reset looked at.
type ResetFileJSON struct {
	File  string `json:"file"`
	Label string `json:"label"`
	// Mapping is the mapping's name, for a test file the mapping tested.
	Mapping string `json:"mapping"`
	// Status is one of resetStatuses' values.
	Status string `json:"status"`
	// Reason says why a file is skipped, "" otherwise.
	Reason string `json:"reason"`
	// Diff is a unified diff of the file against what is written: the
	// customizations a plain reset loses, or what a merge changes.
	Diff string `json:"diff"`
	// Write says the file is written (or would be, in a dry run).
	Write bool `json:"write"`
}

// ConflictJSON is a key both you and the defaults changed differently.
type ConflictJSON struct {
	File string `json:"file"`
	// Path names the key, "" when the whole file cannot be merged.
	Path    string `json:"path"`
	Yours   string `json:"yours"`
	Bundled string `json:"bundled"`
	Base    string `json:"base"`
	Reason  string `json:"reason"`
}

var resetStatuses = map[scaffold.Status]string{
	scaffold.Unchanged: "unchanged", scaffold.Replace: "replace", scaffold.Restore: "restore", scaffold.Add: "add",
	scaffold.Merged: "merged", scaffold.Kept: "kept", scaffold.KeptDeleted: "kept_deleted", scaffold.Conflicted: "conflicted",
	scaffold.Gone: "gone", scaffold.Skipped: "skipped",
}

// Reset prints r as one ResetJSON; text is reset.go's, as it goes.
func (p *Printer) Reset(r Reset) error {
	out := ResetJSON{Defaults: r.Plan.Set, KeepCustomizations: r.Plan.KeepCustomizations, DryRun: r.DryRun, Applied: r.Applied,
		Files: []ResetFileJSON{}, NotSelected: []string{}, Conflicts: []ConflictJSON{}, WatermarksCleared: []WatermarksCleared{}, NoState: r.NoState}
	for _, fr := range r.Plan.Files {
		out.Files = append(out.Files, ResetFileJSON{File: fr.File, Label: fr.Label, Mapping: fr.Mapping, Status: resetStatuses[fr.Status],
			Reason: fr.Reason, Diff: fr.Diff, Write: fr.Content != nil})
	}
	out.NotSelected = append(out.NotSelected, r.Plan.NotSelected...)
	for _, c := range r.Plan.Conflicts() {
		out.Conflicts = append(out.Conflicts, ConflictJSON{File: c.File, Path: c.Path, Yours: c.Yours, Bundled: c.Bundled, Base: c.Base, Reason: c.Reason})
	}
	out.WatermarksCleared = append(out.WatermarksCleared, r.Cleared...)
	return WriteJSON(p.W, out)
}
