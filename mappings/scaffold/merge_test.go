package scaffold

import (
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"

	"github.com/couplerhq/coupler/mappings/defaults"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// TestMerge runs the cases under testdata/merge. Each archive holds
// base.yaml (optional), ours.yaml and theirs.yaml, and the golden output:
// want/merged.yaml and want/diff (the diff of the user's file) for a clean
// merge, want/conflicts otherwise. -update rewrites the golden files.
func TestMerge(t *testing.T) {
	tests := []struct {
		name      string
		conflicts int
		// result is "ours" or "theirs" when the merge must return that input
		// byte for byte.
		result string
		err    string
	}{
		{name: "clean"},
		{name: "conflict", conflicts: 3},
		{name: "untouched", result: "theirs"},
		{name: "identical"},
		{name: "user-added-field"},
		{name: "user-deleted-field"},
		{name: "user-deleted-changed-field", conflicts: 1},
		{name: "nested-keys"},
		{name: "no-base", conflicts: 1},
		{name: "test-cases"},
		{name: "two-documents", err: "your file holds 2 YAML documents"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join("testdata", "merge", tt.name+".txtar")
			ar, err := txtar.ParseFile(file)
			if err != nil {
				t.Fatal(err)
			}
			in := map[string][]byte{}
			for _, f := range ar.Files {
				in[f.Name] = f.Data
			}
			res, err := Merge(in["base.yaml"], in["ours.yaml"], in["theirs.yaml"])
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Merge error = %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Conflicts) != tt.conflicts {
				t.Errorf("%d conflict(s), want %d: %v", len(res.Conflicts), tt.conflicts, res.Conflicts)
			}
			if tt.result != "" && string(res.Content) != string(in[tt.result+".yaml"]) {
				t.Errorf("merged file is not %s.yaml byte for byte:\n%s", tt.result, res.Content)
			}
			got := map[string][]byte{}
			if len(res.Conflicts) > 0 {
				var sb strings.Builder
				for _, c := range res.Conflicts {
					c.File = "mappings/customer.yaml"
					sb.WriteString(c.String() + "\n")
				}
				got["want/conflicts"] = []byte(sb.String())
			} else {
				got["want/merged.yaml"] = res.Content
				got["want/diff"] = []byte(UnifiedDiff("ours.yaml", "merged.yaml", in["ours.yaml"], res.Content))
				// The merge is idempotent: the result already holds the
				// bundled update, so merging it again changes nothing.
				again, err := Merge(in["base.yaml"], res.Content, in["theirs.yaml"])
				if err != nil || len(again.Conflicts) > 0 || string(again.Content) != string(res.Content) {
					t.Errorf("merging the result again changes it: %v %v\n%s", err, again, again.Content)
				}
			}
			checkGolden(t, file, ar, got)
		})
	}
}

// checkGolden compares the want/ files of an archive with got, or rewrites
// them with -update.
func checkGolden(t *testing.T, file string, ar *txtar.Archive, got map[string][]byte) {
	t.Helper()
	var inputs []txtar.File
	want := map[string][]byte{}
	for _, f := range ar.Files {
		if strings.HasPrefix(f.Name, "want/") {
			want[f.Name] = f.Data
		} else {
			inputs = append(inputs, f)
		}
	}
	if *update {
		ar.Files = inputs
		for _, name := range []string{"want/merged.yaml", "want/diff", "want/conflicts"} {
			if data, ok := got[name]; ok {
				ar.Files = append(ar.Files, txtar.File{Name: name, Data: data})
			}
		}
		if err := os.WriteFile(file, txtar.Format(ar), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	for name, data := range got {
		w, ok := want[name]
		if !ok {
			t.Errorf("%s lacks %s (run go test -update); got:\n%s", file, name, data)
			continue
		}
		if string(w) != string(data) {
			t.Errorf("%s differs from %s:\n%s", name, file, UnifiedDiff("want", "got", w, data))
		}
	}
	for name := range want {
		if _, ok := got[name]; !ok {
			t.Errorf("%s has %s, which the merge no longer produces (run go test -update)", file, name)
		}
	}
}

// TestMergeBundledFiles merges, for every bundled file, a user's comment
// with an upstream key: the user's file must come back as it was, plus the
// one new line, whatever the file's formatting.
func TestMergeBundledFiles(t *testing.T) {
	files, err := fs.Glob(defaults.FS, "*/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			base, err := fs.ReadFile(defaults.FS, f)
			if err != nil {
				t.Fatal(err)
			}
			ours := []byte("# our note\n" + string(base))
			theirs := []byte(string(base) + "zz_new_key: 1\n")
			res, err := Merge(base, ours, theirs)
			if err != nil || len(res.Conflicts) > 0 {
				t.Fatalf("Merge: %v, conflicts %v", err, res)
			}
			want := string(ours) + "zz_new_key: 1\n"
			if string(res.Content) != want {
				t.Errorf("merged file differs from the user's plus the new key:\n%s", UnifiedDiff("want", "got", []byte(want), res.Content))
			}
		})
	}
}
