package view

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Init is the project coupler init wrote, its paths as the command line
// names them (under DIR, or relative to the -C directory).
type Init struct {
	// Dir is the project directory, "." for the -C directory.
	Dir string
	// Defaults is the bundled set the project started from.
	Defaults    string
	ProjectFile string
	Files       []InitFile
	LockFile    string
	BaseDir     string
	SchemasDir  string
	// Gitignore is the .gitignore file; GitignoreDone what became of it:
	// "wrote", "updated" (the pattern appended) or "" (it had it).
	Gitignore     string
	GitignoreDone string
	// Env are the environment variables the project file reads.
	Env []string
}

// InitFile is a copy of a bundled file init wrote.
type InitFile struct {
	File string `json:"file"`
	// Label says what the file is, e.g. "mapping CUSTOMER".
	Label string `json:"label"`
}

// InitJSON is init --format json's output.
type InitJSON struct {
	Dir         string     `json:"dir"`
	Defaults    string     `json:"defaults"`
	ProjectFile string     `json:"project_file"`
	Files       []InitFile `json:"files"`
	LockFile    string     `json:"lock_file"`
	BaseDir     string     `json:"base_dir"`
	SchemasDir  string     `json:"schemas_dir"`
	// Gitignore is "wrote", "updated" or "" (the .gitignore had the
	// pattern already).
	Gitignore string   `json:"gitignore"`
	Env       []string `json:"env"`
}

// Init prints what init wrote and the next steps, or one InitJSON.
func (p *Printer) Init(in Init) error {
	if p.Format == JSON {
		out := InitJSON{Dir: in.Dir, Defaults: in.Defaults, ProjectFile: in.ProjectFile, Files: in.Files, LockFile: in.LockFile,
			BaseDir: in.BaseDir, SchemasDir: in.SchemasDir, Gitignore: in.GitignoreDone, Env: in.Env}
		if out.Files == nil {
			out.Files = []InitFile{}
		}
		if out.Env == nil {
			out.Env = []string{}
		}
		return WriteJSON(p.W, out)
	}
	w := p.W
	fmt.Fprintf(w, "Wrote %s\n", in.ProjectFile)
	for _, f := range in.Files {
		fmt.Fprintf(w, "Wrote %s (%s)\n", f.File, f.Label)
	}
	fmt.Fprintf(w, "Wrote %s and %s: commit them with your mappings; coupler reset merges from them\n",
		in.LockFile, in.BaseDir+string(filepath.Separator))
	fmt.Fprintf(w, "Wrote %s: the JSON Schemas the files' first lines point editors at; commit them too\n",
		in.SchemasDir+string(filepath.Separator))
	switch in.GitignoreDone {
	case "wrote":
		fmt.Fprintf(w, "Wrote %s: git ignores the state under .coupler/\n", in.Gitignore)
	case "updated":
		fmt.Fprintf(w, "Added /.coupler/ to %s: git ignores the state\n", in.Gitignore)
	}
	fmt.Fprintf(w, "\nNext steps:\n")
	fmt.Fprintf(w, "  1. Set the environment variables %s reads:\n", in.ProjectFile)
	for _, v := range in.Env {
		hint := "https://..."
		switch {
		case strings.HasSuffix(v, "_TOKEN"):
			hint = "<bearer token>"
		case v == "BC_URL":
			// The URL Business Central's API documentation gives: the
			// connector finds $metadata and $batch above the company.
			hint = "'https://api.businesscentral.dynamics.com/v2.0/<tenant>/<environment>/api/v2.0/companies(<company id>)'"
		case v == "DATAVERSE_URL":
			hint = "https://<org>.crm.dynamics.com/api/data/v9.2"
		}
		fmt.Fprintf(w, "       export %s=%s\n", v, hint)
	}
	c := "coupler"
	if in.Dir != "." {
		c = "coupler -C " + in.Dir
	}
	fmt.Fprintf(w, "  2. Check the project offline:   %s validate\n", c)
	_, err := fmt.Fprintf(w, "  3. See what a sync would do:    %s plan\n", c)
	return err
}
