package mappings

import (
	"regexp"
	"strconv"

	"gopkg.in/yaml.v3"

	"github.com/couplerhq/coupler/connectors/config"
)

// Approval says which plans need a person's approval before coupler serve
// applies them (the project file's approval:). A plan that creates records
// in a destination already holding records on a mapping's first sync
// always does; these settings add plans that delete records and plans
// that would change a large share of the records. On the command line the
// confirmation prompt, or --auto-approve, is that person.
type Approval struct {
	// ChangedShare is the share of records (0 to 1) that a plan's creates,
	// updates and deletes may reach before it waits: a plan of a mapping
	// whose changes exceed ChangedShare of the records it covers (read,
	// plus coupled records not read because unchanged) waits, but for the
	// initial load into an empty destination. 1 turns the rule off.
	ChangedShare float64
	// MinRecords is how many records a mapping must cover for the share
	// rule to apply, so that a handful of records changing does not wait.
	MinRecords int64
	// Deletes makes a plan that deletes records (propagate_deletes) wait.
	Deletes bool
	Pos     Pos
}

// DefaultApproval is the approval rule of a project file without
// approval:, and of each key it leaves out.
var DefaultApproval = Approval{ChangedShare: 0.5, MinRecords: 100, Deletes: true}

// ShareString writes a share as the project file takes it: 50%.
func ShareString(share float64) string {
	return strconv.FormatFloat(share*100, 'f', -1, 64) + "%"
}

// decodeApproval decodes approval: { changed_share: 50%, min_records: 100,
// deletes: true }.
func decodeApproval(d *decoder, n *yaml.Node) Approval {
	a := DefaultApproval
	a.Pos = d.Pos(n)
	d.Object(n, "approval", nil, map[string]config.KeyFunc{
		"changed_share": func(_, v *yaml.Node) {
			if s, ok := decodeShare(d, v); ok {
				a.ChangedShare = s
			}
		},
		"min_records": func(_, v *yaml.Node) {
			if m, ok := d.Int(v, "approval: min_records", 0, 1<<31-1); ok {
				a.MinRecords = int64(m)
			}
		},
		"deletes": func(_, v *yaml.Node) {
			if b, ok := d.Bool(v, "approval: deletes"); ok {
				a.Deletes = b
			}
		},
	})
	return a
}

// shareRE is a percentage as schemas/coupler.schema.json takes it.
var shareRE = regexp.MustCompile(`^\s*(100(?:\.0*)?|[0-9]?[0-9](?:\.[0-9]*)?)\s*%$`)

// decodeShare decodes a share: a percentage such as 50% or 12.5%, or a
// number from 0 to 1.
func decodeShare(d *decoder, n *yaml.Node) (float64, bool) {
	bad := func() (float64, bool) {
		d.Errorf(n, "approval: changed_share must be a percentage from 0%% to 100%% such as 50%%, or a number from 0 to 1, not %s", strconv.Quote(n.Value))
		return 0, false
	}
	if n.Kind != yaml.ScalarNode {
		return bad()
	}
	switch n.Tag {
	case "!!int", "!!float":
		v, err := strconv.ParseFloat(n.Value, 64)
		if err != nil || v < 0 || v > 1 {
			return bad()
		}
		return v, true
	case "!!str":
		m := shareRE.FindStringSubmatch(n.Value)
		if m == nil {
			return bad()
		}
		v, err := strconv.ParseFloat(m[1], 64)
		if err != nil || v > 100 {
			return bad()
		}
		return v / 100, true
	}
	return bad()
}
