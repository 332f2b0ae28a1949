// Package scaffold starts projects from the bundled default mapping sets and
// resets their mapping files to the defaults later, as `coupler init` and
// `coupler reset` do.
//
// Init copies every file of a set into the project's mappings directory and
// records in coupler.lock which bundled file each copy came from and the
// SHA-256 of that content, which it also keeps as a base copy under
// .coupler-base/<set>/. PlanReset compares the project's files with the
// bundled ones of the running coupler: a plain reset replaces them (showing
// the customizations it drops, as a unified diff); with KeepCustomizations it
// merges, per file, the user's changes since the base copy with the bundled
// changes since the base copy (see Merge). Reset.Apply writes the result and
// moves the lock and base copies forward.
//
// The bundled sets are an fs.FS (one directory per set), so that tests can
// stand in for an upgraded coupler.
package scaffold

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/couplerhq/coupler/mappings"
	"github.com/couplerhq/coupler/mappings/defaults"
)

// Where things live in a project directory.
const (
	// LockFile records where each copied mapping file came from.
	LockFile = "coupler.lock"
	// BaseDir holds the bundled content each file was copied from, per set.
	BaseDir = ".coupler-base"
	// MappingsDir holds the project's mapping files.
	MappingsDir = "mappings"
)

// BundledFile is one file of a bundled default set.
type BundledFile struct {
	// Path is the file's path in the bundled FS: bc-dataverse/customer.yaml.
	Path string
	// Mapping is the name the file declares (name:), or for a test file the
	// mapping it tests (mapping:); "" when the file declares neither.
	Mapping string
	// Test is true for a mapping test file (customer.test.yaml).
	Test    bool
	Content []byte
	SHA256  string
}

// Base returns the file's name: customer.yaml.
func (b *BundledFile) Base() string { return path.Base(b.Path) }

// Target is where the file goes in a project: mappings/customer.yaml.
func (b *BundledFile) Target() string { return MappingsDir + "/" + b.Base() }

// Label names the file in messages: "CUSTOMER", "CUSTOMER tests".
func (b *BundledFile) Label() string { return fileLabel(b.Mapping, b.Test, b.Base()) }

func fileLabel(mapping string, test bool, base string) string {
	switch {
	case mapping == "":
		return base
	case test:
		return mapping + " tests"
	}
	return mapping
}

// Sets lists the bundled sets in bundled (nil: the embedded ones).
func Sets(bundled fs.FS) []string {
	if bundled == nil {
		bundled = defaults.FS
	}
	return defaults.Sets(bundled)
}

// UnknownSetError reports a set that is not bundled.
type UnknownSetError struct {
	Set     string
	Bundled []string
}

func (e *UnknownSetError) Error() string {
	return fmt.Sprintf("unknown default mapping set %q (bundled: %s)", e.Set, strings.Join(e.Bundled, ", "))
}

// BundledFiles returns the files of a bundled set, sorted by path: every
// YAML file directly in the set's directory, mapping and test files alike.
func BundledFiles(bundled fs.FS, set string) ([]*BundledFile, error) {
	if bundled == nil {
		bundled = defaults.FS
	}
	if set == "" || strings.ContainsAny(set, `/\`) || !fs.ValidPath(set) {
		return nil, &UnknownSetError{Set: set, Bundled: Sets(bundled)}
	}
	entries, err := fs.ReadDir(bundled, set)
	if err != nil {
		return nil, &UnknownSetError{Set: set, Bundled: Sets(bundled)}
	}
	var out []*BundledFile
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !(strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")) {
			continue
		}
		p := set + "/" + name
		src, err := fs.ReadFile(bundled, p)
		if err != nil {
			return nil, fmt.Errorf("bundled %s: %w", p, err)
		}
		// The content is the project's from the start, its modeline
		// pointing at the project's schemas, so that the lock's hashes,
		// the base copies and reset's comparisons all see what init wrote.
		src = WithModeline(MappingsDir+"/"+name, src)
		bf := &BundledFile{Path: p, Test: mappings.IsTestFile(name), Content: src, SHA256: hash(src)}
		bf.Mapping = declaredName(src, bf.Test)
		out = append(out, bf)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	if len(out) == 0 {
		return nil, fmt.Errorf("bundled set %q holds no YAML file", set)
	}
	return out, nil
}

// declaredName returns the top-level name: of a mapping file's first
// document, or mapping: of a test file; "" when it cannot tell.
func declaredName(src []byte, test bool) string {
	key := "name"
	if test {
		key = "mapping"
	}
	var doc struct {
		Name    string `yaml:"name"`
		Mapping string `yaml:"mapping"`
	}
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return ""
	}
	if key == "mapping" {
		return doc.Mapping
	}
	return doc.Name
}

// InitOptions says what Init writes.
type InitOptions struct {
	// Set is the bundled set to copy, e.g. bc-dataverse.
	Set string
	// Force overwrites an existing project file, lock file or mapping file.
	Force bool
	// Bundled holds the bundled sets; nil uses the embedded ones.
	Bundled fs.FS
}

// InitResult says what Init wrote. Paths are relative to the project
// directory and slash-separated.
type InitResult struct {
	Set         string
	ProjectFile string
	Files       []*BundledFile
	LockFile    string
	// BaseDir is the directory of the base copies: .coupler-base/<set>.
	BaseDir string
	// Schemas lists the schemas written into SchemasDir.
	Schemas []string
	// Env lists the environment variables the project file reads.
	Env []string
	// Gitignore says what became of the project's .gitignore: "wrote",
	// "updated" (patterns appended) or "" (it had them already).
	Gitignore string
}

// ExistsError reports files Init would overwrite.
type ExistsError struct {
	Paths []string
}

func (e *ExistsError) Error() string {
	verb := "exists"
	if len(e.Paths) > 1 {
		verb = "exist"
	}
	names := e.Paths
	if len(names) > 4 {
		names = append(names[:3:3], fmt.Sprintf("%d more", len(e.Paths)-3))
	}
	return fmt.Sprintf("%s already %s; use --force to overwrite", quoteList(names), verb)
}

// Init writes a new project into dir (created if needed): coupler.yaml,
// a copy of every file of the set under mappings/, coupler.lock, the base
// copies and the schemas (SchemasDir). It refuses, before writing anything, to overwrite a project file,
// lock file or mapping file unless opts.Force.
func Init(dir string, opts InitOptions) (*InitResult, error) {
	files, err := BundledFiles(opts.Bundled, opts.Set)
	if err != nil {
		return nil, err
	}
	project, env := projectFile(opts.Set, files)
	if !opts.Force {
		var exist []string
		check := func(p string) {
			if _, err := os.Lstat(filepath.Join(dir, filepath.FromSlash(p))); err == nil {
				exist = append(exist, displayPath(dir, p))
			} else if !errors.Is(err, fs.ErrNotExist) {
				exist = append(exist, fmt.Sprintf("%s (%v)", displayPath(dir, p), err))
			}
		}
		check(mappings.ProjectFile)
		check(LockFile)
		for _, f := range files {
			check(f.Target())
		}
		if len(exist) > 0 {
			return nil, &ExistsError{Paths: exist}
		}
	}
	lock := &Lock{Version: LockVersion, Set: opts.Set}
	if err := writeFile(filepath.Join(dir, mappings.ProjectFile), project); err != nil {
		return nil, err
	}
	for _, f := range files {
		if err := writeFile(filepath.Join(dir, filepath.FromSlash(f.Target())), f.Content); err != nil {
			return nil, err
		}
		if err := writeFile(basePath(dir, f.Path), f.Content); err != nil {
			return nil, err
		}
		lock.Files = append(lock.Files, LockedFile{File: f.Target(), Bundled: f.Path, Mapping: f.Mapping, SHA256: f.SHA256})
	}
	if err := lock.Write(dir); err != nil {
		return nil, err
	}
	written, err := WriteSchemas(dir)
	if err != nil {
		return nil, err
	}
	gitignore, err := WriteGitignore(dir)
	if err != nil {
		return nil, err
	}
	return &InitResult{
		Gitignore:   gitignore,
		Set:         opts.Set,
		ProjectFile: mappings.ProjectFile,
		Files:       files,
		LockFile:    LockFile,
		BaseDir:     BaseDir + "/" + opts.Set,
		Schemas:     written,
		Env:         env,
	}, nil
}

// projectFile renders coupler.yaml for a set: one odata connector per
// connector its mappings name, in the order they first appear, with the URL
// and bearer token taken from NAME_URL and NAME_TOKEN.
func projectFile(set string, files []*BundledFile) ([]byte, []string) {
	var names []string
	seen := map[string]bool{}
	for _, f := range files {
		if f.Test {
			continue
		}
		var doc struct {
			Table       struct{ Connector string } `yaml:"table"`
			Integration struct{ Connector string } `yaml:"integration"`
		}
		if yaml.Unmarshal(f.Content, &doc) != nil {
			continue
		}
		for _, c := range []string{doc.Table.Connector, doc.Integration.Connector} {
			if c != "" && !seen[c] {
				seen[c] = true
				names = append(names, c)
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, `%s
# coupler project file, written by coupler init --defaults %s.
#
# The format is described in docs/mapping-language.md of the coupler
# repository (https://github.com/couplerhq/coupler/blob/main/docs/mapping-language.md);
# the bundled defaults, coupler init and coupler reset in docs/defaults.md.
# ${NAME} is read from the environment: keep URLs and secrets out of this file.
# Editors with the YAML language server check this file and the mapping
# files against the schemas in %s/ (see the first line).
version: 1
# state: .coupler/state.duckdb   # the default; keep it out of git
connectors:
`, Modeline(mappings.ProjectFile), set, SchemasDir)
	var env []string
	for _, n := range names {
		v := strings.ToUpper(strings.ReplaceAll(n, "-", "_"))
		env = append(env, v+"_URL", v+"_TOKEN")
		fmt.Fprintf(&b, "  %s:\n    type: odata\n    base_url: \"${%s_URL}\"\n    auth: { type: bearer, token: \"${%s_TOKEN}\" }\n", n, v, v)
		if n == "dataverse" {
			b.WriteString("    page_size: 5000\n")
			b.WriteString("    lookups: bind                 # Dataverse writes lookups as field@odata.bind\n")
		}
	}
	fmt.Fprintf(&b, "# Your copies of the %s defaults. coupler reset restores or updates them;\n", set)
	b.WriteString("# coupler.lock and .coupler-base/ record where they came from.\n")
	b.WriteString("mappings: [\"mappings/*.yaml\"]\n")
	return []byte(b.String()), env
}
