package scaffold

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// GitignoreFile is the name of the file git reads ignore patterns from.
const GitignoreFile = ".gitignore"

// gitignoreLines are what init adds to a project's .gitignore: the state
// directory (the state database, its write-ahead log, backups and lock)
// belongs to the machine that syncs, not to the repository. BaseDir and
// SchemasDir are meant to be committed, so they are not listed.
var gitignoreLines = []string{
	"# coupler: the state database, its backups and lock are per machine.",
	"/.coupler/",
}

// WriteGitignore makes dir's .gitignore ignore coupler's state: it writes
// the file when there is none, and otherwise appends the patterns it lacks,
// leaving every line already there alone. It reports what it did: "wrote",
// "updated" or "" when the file already had them.
func WriteGitignore(dir string) (string, error) {
	name := filepath.Join(dir, GitignoreFile)
	old, err := os.ReadFile(name)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	have := map[string]bool{}
	for _, l := range strings.Split(string(old), "\n") {
		have[strings.TrimSpace(l)] = true
	}
	var missing []string
	for _, l := range gitignoreLines {
		if strings.HasPrefix(l, "#") {
			continue
		}
		// ".coupler/" and ".coupler" ignore the directory as well.
		bare := strings.Trim(l, "/")
		if !have[l] && !have[bare] && !have[bare+"/"] && !have["/"+bare] {
			missing = append(missing, l)
		}
	}
	if len(missing) == 0 {
		return "", nil
	}
	var b bytes.Buffer
	b.Write(old)
	if len(old) > 0 && !bytes.HasSuffix(old, []byte("\n")) {
		b.WriteByte('\n')
	}
	if len(old) > 0 {
		b.WriteByte('\n')
	}
	b.WriteString(gitignoreLines[0] + "\n")
	for _, l := range missing {
		b.WriteString(l + "\n")
	}
	if err := writeFile(name, b.Bytes()); err != nil {
		return "", err
	}
	if len(old) == 0 {
		return "wrote", nil
	}
	return "updated", nil
}
