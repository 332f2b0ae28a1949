package scaffold

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// ResetOptions says what PlanReset resets and how.
type ResetOptions struct {
	// Bundled holds the bundled sets; nil uses the embedded ones.
	Bundled fs.FS
	// Mappings selects mappings by name; empty selects every mapping the
	// lock lists and every mapping new in the defaults. A mapping's test
	// file goes with it.
	Mappings []string
	// KeepCustomizations merges the user's changes with the bundled update
	// instead of replacing the user's files.
	KeepCustomizations bool
}

// Status says what a reset does to one file.
type Status int

// What a reset does to a file.
const (
	// Unchanged: the file equals the bundled one; nothing to write.
	Unchanged Status = iota
	// Replace (plain reset): the file is replaced by the bundled one and the
	// user's changes, shown in Diff, are lost.
	Replace
	// Restore (plain reset): the user deleted the file; it is recreated.
	Restore
	// Add: the bundled set has a file the lock lacks; it is added. Diff is
	// set when a file of that name exists and is replaced.
	Add
	// Merged (KeepCustomizations): the user's changes and the bundled
	// update merged; Diff shows what changes in the user's file.
	Merged
	// Kept (KeepCustomizations): the user changed the file and the defaults
	// bring nothing new for it; nothing to write.
	Kept
	// KeptDeleted (KeepCustomizations): the user deleted the file; it stays
	// deleted.
	KeptDeleted
	// Conflicted (KeepCustomizations): the file cannot be merged; see
	// Conflicts.
	Conflicted
	// Gone: the lock lists the file but the bundled set no longer has it;
	// it is left as it is.
	Gone
	// Skipped: a file new in the defaults that is not added, because it
	// tests a mapping the user deleted, or its name is taken; see Reason.
	Skipped
)

var statusText = map[Status]string{
	Unchanged:   "unchanged",
	Replace:     "your changes will be lost",
	Restore:     "deleted by you; will be restored",
	Add:         "new in the defaults; will be added",
	Merged:      "your changes merged with the bundled update",
	Kept:        "customized; nothing new in the defaults to merge",
	KeptDeleted: "deleted by you; keeping it deleted — reset without --keep-customizations to restore",
	Conflicted:  "conflicts",
	Gone:        "no longer in the bundled defaults; left as it is",
	Skipped:     "new in the defaults; not added",
}

func (s Status) String() string { return statusText[s] }

// FileReset is what a reset does to one file of the project.
type FileReset struct {
	// Label names the file's mapping: "CUSTOMER", "CUSTOMER tests".
	Label string
	// Mapping is the mapping's name (for a test file, the mapping tested).
	Mapping string
	Test    bool
	// File is the project file, relative and slash-separated.
	File string
	// Bundled is today's bundled file; nil when Gone.
	Bundled *BundledFile
	Status  Status
	// Diff is a unified diff of the user's file against what is written:
	// the customizations a plain reset loses, or what a merge changes.
	Diff string
	// Content is what is written to File; nil when nothing is.
	Content []byte
	// Conflicts, when Status is Conflicted.
	Conflicts []Conflict
	// Reason says why a file is Skipped.
	Reason string
}

// Message describes what happens to the file: its status, and why.
func (fr *FileReset) Message() string {
	if fr.Reason != "" {
		return fr.Status.String() + ": " + fr.Reason
	}
	return fr.Status.String()
}

// Reset is a planned reset of a project's mapping files. Nothing is written
// until Apply.
type Reset struct {
	// Dir is the project directory.
	Dir string
	// Set is the bundled set the project was made from.
	Set                string
	KeepCustomizations bool
	// Files are the selected files, mapping files before their tests.
	Files []*FileReset
	// NotSelected names the mappings new in the defaults that the
	// selection left out.
	NotSelected []string

	oldLock   []byte
	lock      *Lock
	bases     map[string][]byte // bundled path -> content to write as base copy
	staleBase []string          // bundled paths whose base copy goes
}

// NoLockError reports a project without coupler.lock.
type NoLockError struct{ Dir string }

func (e *NoLockError) Error() string {
	where := "here"
	if e.Dir != "" && e.Dir != "." {
		where = "in " + e.Dir
	}
	return fmt.Sprintf("no %s %s: reset works on a project made by coupler init --defaults SET", LockFile, where)
}

// UnknownMappingError reports a selected name that neither the lock nor the
// bundled set knows.
type UnknownMappingError struct {
	Name  string
	Known []string
}

func (e *UnknownMappingError) Error() string {
	return fmt.Sprintf("unknown mapping %q (known: %s)", e.Name, strings.Join(e.Known, ", "))
}

// PlanReset works out what resetting the project in dir to the bundled
// defaults does to each selected file. It reads coupler.lock, the project's
// files, their base copies and the bundled set, and writes nothing.
func PlanReset(dir string, opts ResetOptions) (*Reset, error) {
	oldLock, err := os.ReadFile(filepath.Join(dir, LockFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &NoLockError{Dir: dir}
	}
	if err != nil {
		return nil, err
	}
	lock, err := ReadLock(dir)
	if err != nil {
		return nil, err
	}
	bundled, err := BundledFiles(opts.Bundled, lock.Set)
	if err != nil {
		return nil, err
	}

	// Match each locked file with today's bundled file: by path when it
	// still declares the same mapping, else by the mapping it declares (a
	// bundled file may be renamed).
	claimed := map[*BundledFile]bool{}
	match := make([]*BundledFile, len(lock.Files))
	for i, e := range lock.Files {
		for _, bf := range bundled {
			if bf.Path == e.Bundled && !claimed[bf] && (e.Mapping == "" || bf.Mapping == "" || bf.Mapping == e.Mapping) {
				match[i], claimed[bf] = bf, true
				break
			}
		}
	}
	for i, e := range lock.Files {
		if match[i] != nil || e.Mapping == "" {
			continue
		}
		test := isTestPath(e.File)
		for _, bf := range bundled {
			if !claimed[bf] && bf.Mapping == e.Mapping && bf.Test == test {
				match[i], claimed[bf] = bf, true
				break
			}
		}
	}
	var fresh []*BundledFile
	for _, bf := range bundled {
		if !claimed[bf] {
			fresh = append(fresh, bf)
		}
	}

	// Selection.
	selected := func(string) bool { return true }
	if len(opts.Mappings) > 0 {
		known := map[string]bool{}
		var names []string
		add := func(n string) {
			if n != "" && !known[n] {
				known[n] = true
				names = append(names, n)
			}
		}
		for _, e := range lock.Files {
			add(e.Mapping)
		}
		for _, bf := range bundled {
			add(bf.Mapping)
		}
		sort.Strings(names)
		want := map[string]bool{}
		for _, n := range opts.Mappings {
			if !known[n] {
				return nil, &UnknownMappingError{Name: n, Known: names}
			}
			want[n] = true
		}
		selected = func(n string) bool { return want[n] }
	}

	r := &Reset{
		Dir:                dir,
		Set:                lock.Set,
		KeepCustomizations: opts.KeepCustomizations,
		oldLock:            oldLock,
		lock:               &Lock{Version: LockVersion, Set: lock.Set, Files: append([]LockedFile(nil), lock.Files...)},
		bases:              map[string][]byte{},
	}
	for i := range lock.Files {
		e := &lock.Files[i]
		if !selected(e.Mapping) {
			continue
		}
		fr, err := r.planLocked(e, match[i])
		if err != nil {
			return nil, err
		}
		r.Files = append(r.Files, fr)
	}
	notSelected := map[string]bool{}
	for _, bf := range fresh {
		if !selected(bf.Mapping) {
			if !bf.Test && !notSelected[bf.Mapping] {
				notSelected[bf.Mapping] = true
				r.NotSelected = append(r.NotSelected, bf.Mapping)
			}
			continue
		}
		fr, err := r.planFresh(bf)
		if err != nil {
			return nil, err
		}
		r.Files = append(r.Files, fr)
	}
	sort.SliceStable(r.Files, func(i, j int) bool { return fileOrder(r.Files[i].File) < fileOrder(r.Files[j].File) })
	// New tests of a mapping the user deleted would only fail.
	deleted := map[string]bool{}
	for _, fr := range r.Files {
		if fr.Status == KeptDeleted && !fr.Test {
			deleted[fr.Mapping] = true
		}
	}
	for _, fr := range r.Files {
		if fr.Test && fr.Status == Add && deleted[fr.Mapping] {
			fr.Status, fr.Content, fr.Diff = Skipped, nil, ""
			fr.Reason = "you deleted the mapping it tests"
		}
	}

	// The lock and base copies follow every file that now corresponds to
	// today's bundled file.
	for _, fr := range r.Files {
		switch fr.Status {
		case KeptDeleted, Conflicted, Gone, Skipped:
			continue
		}
		entry := LockedFile{File: fr.File, Bundled: fr.Bundled.Path, Mapping: fr.Bundled.Mapping, SHA256: fr.Bundled.SHA256}
		if e := r.lock.Entry(fr.File); e != nil {
			*e = entry
		} else {
			r.lock.Files = append(r.lock.Files, entry)
		}
		if have, err := os.ReadFile(basePath(dir, fr.Bundled.Path)); err != nil || !bytes.Equal(have, fr.Bundled.Content) {
			r.bases[fr.Bundled.Path] = fr.Bundled.Content
		}
	}
	used := map[string]bool{}
	for _, e := range r.lock.Files {
		used[e.Bundled] = true
	}
	for _, e := range lock.Files {
		if !used[e.Bundled] {
			if _, err := os.Stat(basePath(dir, e.Bundled)); err == nil {
				r.staleBase = append(r.staleBase, e.Bundled)
				used[e.Bundled] = true
			}
		}
	}
	return r, nil
}

func isTestPath(p string) bool {
	return strings.HasSuffix(p, ".test.yaml") || strings.HasSuffix(p, ".test.yml")
}

// fileOrder sorts a mapping file just before its test file.
func fileOrder(p string) string {
	stem := strings.TrimSuffix(strings.TrimSuffix(p, ".yaml"), ".yml")
	if isTestPath(p) {
		return strings.TrimSuffix(stem, ".test") + "\x01"
	}
	return stem + "\x00"
}

// readProjectFile reads a project file; a missing file gives nil, false.
func (r *Reset) readProjectFile(p string) ([]byte, bool, error) {
	src, err := os.ReadFile(filepath.Join(r.Dir, filepath.FromSlash(p)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return src, true, nil
}

func (r *Reset) planLocked(e *LockedFile, bf *BundledFile) (*FileReset, error) {
	fr := &FileReset{Label: fileLabel(e.Mapping, isTestPath(e.File), filepath.Base(e.File)), Mapping: e.Mapping, Test: isTestPath(e.File), File: e.File, Bundled: bf}
	if bf == nil {
		fr.Status = Gone
		return fr, nil
	}
	fr.Label, fr.Mapping = bf.Label(), bf.Mapping
	ours, exists, err := r.readProjectFile(e.File)
	if err != nil {
		return nil, err
	}
	switch {
	case !exists && r.KeepCustomizations:
		fr.Status = KeptDeleted
	case !exists:
		fr.Status, fr.Content = Restore, bf.Content
	case bytes.Equal(ours, bf.Content):
		fr.Status = Unchanged
	case !r.KeepCustomizations:
		fr.Status, fr.Content = Replace, bf.Content
		fr.Diff = UnifiedDiff(e.File+" (yours)", "bundled "+bf.Path, ours, bf.Content)
	default:
		base, err := readBase(r.Dir, e)
		if err != nil {
			if e.SHA256 != bf.SHA256 {
				fr.Status = Conflicted
				fr.Conflicts = []Conflict{{File: e.File, Reason: fmt.Sprintf("cannot merge: %v, and the bundled file changed since %s was copied; restore the base copy from git, or reset without --keep-customizations", err, e.File)}}
				return fr, nil
			}
			base = bf.Content // the bundled file is still the one copied
		}
		r.merge(fr, base, ours)
	}
	return fr, nil
}

func (r *Reset) planFresh(bf *BundledFile) (*FileReset, error) {
	fr := &FileReset{Label: bf.Label(), Mapping: bf.Mapping, Test: bf.Test, File: bf.Target(), Bundled: bf}
	if e := r.lock.Entry(fr.File); e != nil {
		// A renamed bundled file left its old name to a new one.
		fr.Status = Skipped
		fr.Reason = fmt.Sprintf("%s holds %s, which %s ties to bundled %s", fr.File, fileLabel(e.Mapping, isTestPath(e.File), path.Base(e.File)), LockFile, e.Bundled)
		return fr, nil
	}
	ours, exists, err := r.readProjectFile(fr.File)
	if err != nil {
		return nil, err
	}
	switch {
	case !exists:
		fr.Status, fr.Content = Add, bf.Content
	case bytes.Equal(ours, bf.Content):
		fr.Status = Unchanged
	case !r.KeepCustomizations:
		fr.Status, fr.Content = Add, bf.Content
		fr.Diff = UnifiedDiff(fr.File+" (yours)", "bundled "+bf.Path, ours, bf.Content)
	default:
		// The file is not in the lock: no base to merge from.
		r.merge(fr, nil, ours)
	}
	return fr, nil
}

func (r *Reset) merge(fr *FileReset, base, ours []byte) {
	res, err := Merge(base, ours, fr.Bundled.Content)
	if err != nil {
		fr.Status = Conflicted
		fr.Conflicts = []Conflict{{File: fr.File, Reason: "cannot merge: " + err.Error()}}
		return
	}
	if len(res.Conflicts) > 0 {
		fr.Status = Conflicted
		for _, c := range res.Conflicts {
			c.File = fr.File
			fr.Conflicts = append(fr.Conflicts, c)
		}
		return
	}
	if bytes.Equal(res.Content, ours) {
		fr.Status = Kept
		return
	}
	fr.Status, fr.Content = Merged, res.Content
	if fr.Content == nil {
		fr.Content = []byte{}
	}
	fr.Diff = UnifiedDiff(fr.File+" (yours)", fr.File+" (merged)", ours, res.Content)
}

// Conflicts lists every conflict, file by file.
func (r *Reset) Conflicts() []Conflict {
	var out []Conflict
	for _, fr := range r.Files {
		out = append(out, fr.Conflicts...)
	}
	return out
}

// Writes returns the files Apply writes.
func (r *Reset) Writes() []*FileReset {
	var out []*FileReset
	for _, fr := range r.Files {
		if fr.Content != nil {
			out = append(out, fr)
		}
	}
	return out
}

// LosesChanges reports whether Apply drops changes the user made: a plain
// reset of a customized file.
func (r *Reset) LosesChanges() bool {
	if r.KeepCustomizations {
		return false
	}
	for _, fr := range r.Files {
		if fr.Content != nil && fr.Diff != "" {
			return true
		}
	}
	return false
}

// UpdatesLock reports whether Apply would change coupler.lock or the base
// copies, which happens without any file to write when the user already
// matched a newer bundled file.
func (r *Reset) UpdatesLock() bool {
	return !bytes.Equal(r.lock.Marshal(), r.oldLock) || len(r.bases) > 0 || len(r.staleBase) > 0
}

// ResetMappings names the mappings a plain reset replaces with the bundled
// version (restored, replaced or added), whose watermarks should go; test
// files do not count. A merge resets none.
func (r *Reset) ResetMappings() []string {
	if r.KeepCustomizations {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	for _, fr := range r.Files {
		if fr.Content == nil || fr.Test || fr.Mapping == "" || seen[fr.Mapping] {
			continue
		}
		seen[fr.Mapping] = true
		out = append(out, fr.Mapping)
	}
	return out
}

// Apply writes the planned files, then the base copies, coupler.lock and
// the schemas (SchemasDir). It refuses when there are conflicts.
func (r *Reset) Apply() error {
	if n := len(r.Conflicts()); n > 0 {
		return fmt.Errorf("%d conflict(s); nothing written", n)
	}
	for _, fr := range r.Writes() {
		if err := writeFile(filepath.Join(r.Dir, filepath.FromSlash(fr.File)), fr.Content); err != nil {
			return err
		}
	}
	paths := make([]string, 0, len(r.bases))
	for p := range r.bases {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		if err := writeFile(basePath(r.Dir, p), r.bases[p]); err != nil {
			return err
		}
	}
	if err := r.lock.Write(r.Dir); err != nil {
		return err
	}
	// The files written point at the schemas of this coupler.
	if _, err := WriteSchemas(r.Dir); err != nil {
		return err
	}
	for _, p := range r.staleBase {
		if err := os.Remove(basePath(r.Dir, p)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}
