package scaffold

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// LockVersion is the format version of coupler.lock that this package
// writes and reads.
const LockVersion = 1

// Lock is coupler.lock: which bundled default each mapping file of the
// project was copied from, so that reset can tell the user's changes from
// the bundled ones even after coupler, and its bundled files, are upgraded.
type Lock struct {
	Version int `yaml:"version"`
	// Set is the bundled default set the project was made from.
	Set string `yaml:"set"`
	// Files are the copied files, sorted by File.
	Files []LockedFile `yaml:"files"`
}

// LockedFile is one copied file.
type LockedFile struct {
	// File is the copy's path in the project, relative and slash-separated:
	// mappings/customer.yaml.
	File string `yaml:"file"`
	// Bundled is the bundled file it was copied from: bc-dataverse/customer.yaml.
	Bundled string `yaml:"bundled"`
	// Mapping is the mapping the file declares, or tests for a test file.
	Mapping string `yaml:"mapping"`
	// SHA256 is the hex SHA-256 of the bundled content copied; the same
	// content is kept as the base copy, BaseDir/Bundled.
	SHA256 string `yaml:"sha256"`
}

const lockHeader = `# coupler.lock: written by coupler init and coupler reset; do not edit it.
#
# It records, for each mapping file copied from a bundled default set, the
# bundled file and the SHA-256 of the content it was copied from. That content
# is kept in .coupler-base/<set>/ so that
#     coupler reset --keep-customizations
# can merge your changes with the defaults of a newer coupler. Commit this file
# and .coupler-base/ to git together with your mapping files.
`

// ReadLock reads dir/coupler.lock. When there is none, the error wraps
// fs.ErrNotExist.
func ReadLock(dir string) (*Lock, error) {
	file := filepath.Join(dir, LockFile)
	src, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	// The version first, so that a newer lock is reported as such rather
	// than as unknown keys.
	var v struct {
		Version int `yaml:"version"`
	}
	if err := yaml.Unmarshal(src, &v); err != nil {
		return nil, fmt.Errorf("%s: %v", file, err)
	}
	if v.Version != LockVersion {
		return nil, fmt.Errorf("%s: unsupported version %d: this coupler reads version %d; upgrade coupler", file, v.Version, LockVersion)
	}
	var l Lock
	dec := yaml.NewDecoder(bytes.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&l); err != nil {
		return nil, fmt.Errorf("%s: %v", file, err)
	}
	if l.Set == "" {
		return nil, fmt.Errorf("%s: no set", file)
	}
	seen := map[string]bool{}
	for i, f := range l.Files {
		if f.File == "" || f.Bundled == "" {
			return nil, fmt.Errorf("%s: files[%d] needs file and bundled", file, i)
		}
		if !fs.ValidPath(f.File) || !fs.ValidPath(f.Bundled) {
			return nil, fmt.Errorf("%s: files[%d]: paths must be relative and slash-separated", file, i)
		}
		if seen[f.File] {
			return nil, fmt.Errorf("%s: %s is listed twice", file, f.File)
		}
		seen[f.File] = true
	}
	return &l, nil
}

// Marshal renders the lock file, with its header comment.
func (l *Lock) Marshal() []byte {
	var b bytes.Buffer
	b.WriteString(lockHeader)
	files := append([]LockedFile(nil), l.Files...)
	sort.Slice(files, func(i, j int) bool { return files[i].File < files[j].File })
	out := Lock{Version: LockVersion, Set: l.Set, Files: files}
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(out); err != nil {
		panic(err) // plain strings always encode
	}
	enc.Close()
	return b.Bytes()
}

// Write writes the lock file into dir.
func (l *Lock) Write(dir string) error {
	return writeFile(filepath.Join(dir, LockFile), l.Marshal())
}

// Entry returns the entry for the project file file, or nil.
func (l *Lock) Entry(file string) *LockedFile {
	for i := range l.Files {
		if l.Files[i].File == file {
			return &l.Files[i]
		}
	}
	return nil
}

// basePath is where the base copy of a bundled file lives in a project.
func basePath(dir, bundled string) string {
	return filepath.Join(dir, BaseDir, filepath.FromSlash(bundled))
}

// readBase reads the base copy of a locked file and checks it against the
// lock's hash.
func readBase(dir string, f *LockedFile) ([]byte, error) {
	src, err := os.ReadFile(basePath(dir, f.Bundled))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("its base copy %s is missing", path.Join(BaseDir, f.Bundled))
		}
		return nil, err
	}
	if sum := hash(src); sum != f.SHA256 {
		return nil, fmt.Errorf("its base copy %s does not match the sha256 in %s", path.Join(BaseDir, f.Bundled), LockFile)
	}
	return src, nil
}

func hash(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// writeFile writes a file through a temporary file and a rename, creating
// its directory, so that an interrupted write never leaves half a file.
func writeFile(name string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".tmp*")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Chmod(tmp.Name(), 0o644)
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), name)
	}
	if werr != nil {
		os.Remove(tmp.Name())
		return werr
	}
	return nil
}

// displayPath joins a project directory and a slash-separated project path
// for messages: "my-sync/mappings/customer.yaml", or just the path in ".".
func displayPath(dir, p string) string {
	if dir == "" || dir == "." {
		return p
	}
	return filepath.Join(dir, filepath.FromSlash(p))
}

// quoteList renders names for messages: "a, b and c".
func quoteList(names []string) string {
	switch len(names) {
	case 0:
		return "none"
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}
