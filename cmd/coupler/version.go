package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/duckdb/duckdb-go/v2"
	"github.com/spf13/cobra"

	"github.com/couplerhq/coupler/cmd/coupler/view"
)

// duckdbModule is the Go module that links DuckDB into coupler.
const duckdbModule = "github.com/duckdb/duckdb-go/v2"

// versionInfo is what coupler version prints: enough to say in a bug report
// which build, from which commit, with which DuckDB wrote a state database.
type versionInfo struct {
	// Version is the module version coupler was built as: a tag with go
	// install, "(devel)" from a checkout.
	Version string `json:"version"`
	// Commit and CommitTime are the VCS revision the binary was built from
	// and its time; Modified says the work tree had uncommitted changes.
	Commit     string `json:"commit,omitempty"`
	CommitTime string `json:"commit_time,omitempty"`
	Modified   bool   `json:"modified,omitempty"`
	// DuckDB is the version of the DuckDB library itself, as it answers
	// SELECT version(); DuckDBGo the Go module that binds it.
	DuckDB   string `json:"duckdb"`
	DuckDBGo string `json:"duckdb_go,omitempty"`
	Go       string `json:"go"`
}

// readVersion gathers versionInfo from the binary's build information and
// from DuckDB, which is asked on an in-memory database: the module version
// of the bindings does not say which DuckDB release they carry.
func readVersion(ctx context.Context) versionInfo {
	v := versionInfo{Version: "(unknown)", Go: runtime.Version(), DuckDB: duckdbVersion(ctx)}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	if bi.Main.Version != "" {
		v.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Commit = s.Value
		case "vcs.time":
			v.CommitTime = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	for _, d := range bi.Deps {
		if d.Path == duckdbModule {
			v.DuckDBGo = d.Version
			if d.Replace != nil {
				v.DuckDBGo = d.Replace.Version
			}
		}
	}
	return v
}

// duckdbVersion asks DuckDB its version, or says why it could not.
func duckdbVersion(ctx context.Context) string {
	c, err := duckdb.NewConnector("", nil)
	if err != nil {
		return fmt.Sprintf("(unknown: %v)", err)
	}
	defer c.Close()
	db := sql.OpenDB(c)
	defer db.Close()
	var version string
	if err := db.QueryRowContext(ctx, "SELECT version()").Scan(&version); err != nil {
		return fmt.Sprintf("(unknown: %v)", err)
	}
	return version
}

// text renders v for people, one fact a line.
func (v versionInfo) text(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "coupler %s\n", v.Version)
	if v.Commit != "" {
		fmt.Fprintf(&b, "commit %s", v.Commit)
		if v.Modified {
			b.WriteString(" (with uncommitted changes)")
		}
		if v.CommitTime != "" {
			fmt.Fprintf(&b, " of %s", v.CommitTime)
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "DuckDB %s", v.DuckDB)
	if v.DuckDBGo != "" {
		fmt.Fprintf(&b, " (%s %s)", duckdbModule, v.DuckDBGo)
	}
	fmt.Fprintf(&b, "\n%s\n", v.Go)
	_, err := io.WriteString(w, b.String())
	return err
}

// setVersion makes coupler --version print what coupler version prints.
func setVersion(root *cobra.Command) {
	// cobra adds --version when Version is set and prints it through the
	// template; the text is computed only then, since it opens DuckDB.
	root.Version = "-"
	cobra.AddTemplateFunc("couplerVersion", func() string {
		var b strings.Builder
		_ = readVersion(context.Background()).text(&b)
		return b.String()
	})
	root.SetVersionTemplate("{{couplerVersion}}")
}

func newVersion(g *globals) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print coupler's version, commit and DuckDB version",
		Long: `version prints the version coupler was built as, the commit and commit time
of its source (for a build from a checkout), the DuckDB library it links (the
state database's format is DuckDB's) and the Go release. coupler --version
prints the same.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := view.ParseFormat(format); err != nil {
				return err
			}
			v := readVersion(cmd.Context())
			if format == "json" {
				return view.WriteJSON(g.stdout, v)
			}
			return v.text(g.stdout)
		},
	}
	formatFlag(cmd, &format)
	return cmd
}
