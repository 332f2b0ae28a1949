// Package plan holds a sync plan as plain data: per mapping, one operation
// per record with the values each changed field has before and after. A Plan
// is what plan computes, what the state database saves, what reports render
// and what apply executes; nothing here looks at YAML or talks to a server.
package plan

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ApplyBatch is the fewest operations apply writes between two
// confirmations in the state database; MaxApplyBatch the most, which is
// also the most a crash can leave written but unrecorded. Between the two
// the batch grows with the couplings the state holds (see
// engine.applyBatchSize).
const (
	ApplyBatch    = 200
	MaxApplyBatch = 5000
)

// Kind is what an operation does to its destination record.
type Kind string

// Operation kinds.
const (
	// Create writes a new destination record and couples it to the source.
	Create Kind = "create"
	// Couple couples an uncoupled source record to the destination record
	// that matches it on the mapping's match fields, and with sync_after
	// writes the fields that differ.
	Couple Kind = "couple"
	// Update writes the changed fields of a coupled destination record.
	Update Kind = "update"
	// Unchanged is a coupled record whose mapped fields already agree.
	Unchanged Kind = "unchanged"
	// Skip is a record left out: outside a filter, or uncoupled while the
	// mapping syncs only coupled records. Reason says which.
	Skip Kind = "skip"
	// Skipped is a record that failed with the same error in two runs in a
	// row, left out until coupler retry (the product's Skipped flag). Every
	// plan of its mapping and direction lists it, read or not, so that it
	// never drops out of sight; Reason gives the error.
	Skipped Kind = "skipped"
	// Fail is a record that cannot be synchronized; Reason says why.
	Fail Kind = "fail"
	// Conflict is a record changed on both sides since the last sync, which
	// the mapping has no policy to settle; it is not written.
	Conflict Kind = "conflict"
	// Settled is the losing side of an update conflict that the mapping's
	// conflicts.update policy (or sync --prefer) settled: its values of the
	// two-way fields are dropped, and Reason names, per field, the value
	// kept and the value dropped. Changes, if any, are its one-way fields,
	// which are still written.
	Settled Kind = "settled"
	// Restore recreates a coupled destination record that was deleted, and
	// couples the source to the new record (conflicts.delete: restore).
	Restore Kind = "restore"
	// Uncouple removes the coupling of a record whose destination was
	// deleted (conflicts.delete: remove_coupling).
	Uncouple Kind = "uncouple"
	// Delete deletes the destination record of a source record that was
	// deleted, and the coupling (propagate_deletes: true).
	Delete Kind = "delete"
)

// Kinds lists every kind in report order.
var Kinds = []Kind{Create, Couple, Update, Restore, Delete, Uncouple, Settled, Conflict, Unchanged, Skip, Skipped, Fail}

// Writes lists the kinds that change a system or the couplings. A Settled
// operation writes its one-way fields, when it has any.
var Writes = []Kind{Create, Couple, Update, Restore, Delete, Uncouple, Settled}

// OutOfStep lists the kinds of records that a plan leaves out of step even
// once applied: in conflict, failed, or skipped after failing twice.
var OutOfStep = []Kind{Conflict, Fail, Skipped}

// Status is where a plan is in its life.
type Status string

// Plan statuses.
const (
	Planned  Status = "planned"
	Applying Status = "applying"
	Applied  Status = "applied"
	// Interrupted is a plan whose apply stopped before it finished (killed,
	// shut down, cut off from a system): the restart path (the next plan or
	// apply) found it so once it had settled the writes left in flight.
	// Applying it again resumes it, until a later plan is applied over its
	// mappings.
	Interrupted Status = "interrupted"
)

// Plan is the result of planning one or more mappings.
type Plan struct {
	ID string `json:"id"`
	// Name is what plan --out called the plan; empty when unnamed.
	Name      string    `json:"name,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	// Full is true when every record was read, ignoring watermarks.
	Full bool `json:"full"`
	// Fingerprint identifies what the plan was computed from: its
	// mappings' definitions and the settings of the connectors they use
	// that shape operations. Apply refuses the plan when the project's
	// differ.
	Fingerprint string         `json:"fingerprint"`
	Status      Status         `json:"status"`
	Mappings    []*MappingPlan `json:"mappings"`
	// Approved says who approved the plan, and when, for the parts that
	// wait for a person (MappingPlan.NeedsApproval); nil while nobody has.
	Approved *Approval `json:"approved,omitempty"`
}

// Approval is a person's approval of a plan.
type Approval struct {
	// By names who approved: the user of coupler approve, or the status
	// page's caller.
	By string    `json:"by"`
	At time.Time `json:"at"`
}

// NeedsApproval reports whether some part of the plan waits for a
// person's approval before coupler serve applies it.
func (p *Plan) NeedsApproval() bool {
	for _, m := range p.Mappings {
		if len(m.NeedsApproval) > 0 {
			return true
		}
	}
	return false
}

// WaitsForApproval reports whether the plan needs approval, has none, and
// is not applied yet.
func (p *Plan) WaitsForApproval() bool {
	return p.Status == Planned && p.Approved == nil && p.NeedsApproval()
}

// ApprovalReasons lists why the plan needs approval, each prefixed with
// its mapping and direction.
func (p *Plan) ApprovalReasons() []string {
	var out []string
	for _, m := range p.Mappings {
		for _, r := range m.NeedsApproval {
			out = append(out, m.Name+" ("+m.Direction+"): "+r)
		}
	}
	return out
}

// ApprovalRule says which plans need a person's approval besides a first
// sync that creates records into a destination holding records (see
// mappings.Approval, the project file's approval:).
type ApprovalRule struct {
	// ChangedShare is the share of the records a part covers that its
	// creates, updates and deletes may reach; 1 turns the rule off.
	ChangedShare float64
	// MinRecords is how many records a part must cover for ChangedShare to
	// apply.
	MinRecords int64
	// Deletes makes a part that deletes records need approval.
	Deletes bool
}

// HasChanges reports whether applying the plan would write anything.
func (p *Plan) HasChanges() bool {
	for _, m := range p.Mappings {
		for _, k := range Writes {
			if m.Counts[k] > 0 {
				return true
			}
		}
	}
	return false
}

// OutOfStep counts the records of the plan, over every mapping, of each
// kind in OutOfStep; zero counts are left out.
func (p *Plan) OutOfStep() Counts {
	t := p.Totals()
	out := Counts{}
	for _, k := range OutOfStep {
		if t[k] > 0 {
			out[k] = t[k]
		}
	}
	return out
}

// InStep reports whether both sides are in step as far as the plan can
// tell: it writes nothing, and no record failed, is in conflict or is
// skipped. A plan that writes nothing is not in step when records failed.
func (p *Plan) InStep() bool {
	return !p.HasChanges() && len(p.OutOfStep()) == 0
}

// Totals adds up the counts of every mapping.
func (p *Plan) Totals() Counts {
	t := Counts{}
	for _, m := range p.Mappings {
		for k, n := range m.Counts {
			t[k] += n
		}
	}
	return t
}

// Counts is the number of operations of each kind.
type Counts map[Kind]int64

// Endpoint is one side of a mapping as the plan reads or writes it.
type Endpoint struct {
	// Side is "table" or "integration".
	Side      string `json:"side"`
	Connector string `json:"connector"`
	Entity    string `json:"entity"`
	Key       string `json:"key"`
	Modified  string `json:"modified,omitempty"`
}

// Sides of a mapping.
const (
	SideTable       = "table"
	SideIntegration = "integration"
)

// MappingPlan is the part of a plan for one table mapping and direction.
type MappingPlan struct {
	Name      string   `json:"mapping"`
	Direction string   `json:"direction"`
	Source    Endpoint `json:"source"`
	Dest      Endpoint `json:"destination"`
	// Since is the watermark the read started from; zero for a full read.
	Since time.Time `json:"since,omitzero"`
	// ReadStarted is when the read began; a watermark never passes it.
	ReadStarted time.Time `json:"read_started"`
	// NewWatermark is where the source watermark moves when every operation
	// succeeds; apply holds it back to the earliest failed record.
	NewWatermark time.Time `json:"new_watermark,omitzero"`
	// Record, for a per-record plan, is the id of the source record read.
	Record string `json:"record,omitempty"`
	// Read is how many source records were read.
	Read int64 `json:"read"`
	// NotModified counts coupled records that were not read because they
	// have not changed since the watermark.
	NotModified int64 `json:"not_modified"`
	// DestRead is how many destination records were read; Coupled how many
	// records the mapping had coupled when the plan began.
	DestRead int64  `json:"destination_read"`
	Coupled  int64  `json:"coupled"`
	Counts   Counts `json:"counts"`
	// Operations lists operations, possibly only some (see Omitted).
	Operations []Operation `json:"operations"`
	// Omitted counts operations left out of Operations by a listing limit.
	Omitted int64 `json:"omitted,omitempty"`
	// Warnings point at what a reviewer should look at twice.
	Warnings []string `json:"warnings,omitempty"`
	// ChangeTracking says how a source read through the service's change
	// tracking (changes: track) was read; empty for other reads. See
	// changes.go.
	ChangeTracking ChangeRead `json:"change_tracking,omitempty"`
	// Removed counts the records that change tracking reported deleted at
	// the source since the last run.
	Removed int64 `json:"removed,omitempty"`
	// BaseChangeToken is the change tracking token the read started from,
	// NewChangeToken the one apply stores when the run ends. They are
	// service URLs (OData delta links), kept out of reports.
	BaseChangeToken string `json:"-"`
	NewChangeToken  string `json:"-"`
	// Definition is the fingerprint of what the pass writes (its sides,
	// filters and field flows); apply keeps it when the run ends without a
	// failed record. Empty for a per-record plan.
	Definition string `json:"-"`
	// DefinitionChanged is true when Definition differs from the one the
	// last apply kept: the mapping was edited, so every record was read and
	// every coupled record compared in full, not only those modified since
	// the last sync.
	DefinitionChanged bool `json:"definition_changed,omitempty"`
	// CreatesIntoExisting marks the first sync of a mapping (nothing
	// coupled yet, no match fields) that would create records in a
	// destination already holding records in the mapping's filter: the
	// creates may duplicate them. Apply refuses the plan until match
	// fields, coupler couple --match or coupler acknowledge settle it.
	CreatesIntoExisting bool `json:"creates_into_existing,omitempty"`
	// NeedsApproval lists why this part waits for a person's approval
	// before coupler serve applies it (ComputeApproval); empty when it need
	// not.
	NeedsApproval []string `json:"needs_approval,omitempty"`
}

// Covered is how many records the part covers: those read, and the
// coupled records not read because they have not changed since the
// watermark.
func (m *MappingPlan) Covered() int64 {
	return m.Read + m.NotModified
}

// ComputeApproval fills NeedsApproval from the plan's counts and the
// rule: a first sync that creates into a destination holding records
// (CreatesIntoExisting, set before), deletes when the rule says so, and
// changes beyond the rule's share of the records covered, except for the
// initial load into an empty destination.
func (m *MappingPlan) ComputeApproval(rule ApprovalRule) {
	m.NeedsApproval = nil
	if m.CreatesIntoExisting {
		m.NeedsApproval = append(m.NeedsApproval, fmt.Sprintf("first sync into a destination that holds records: %d records would be created in %s while none is coupled; they may be duplicates",
			m.Counts[Create], m.Dest.Entity))
	}
	if n := m.Counts[Delete]; rule.Deletes && n > 0 {
		m.NeedsApproval = append(m.NeedsApproval, fmt.Sprintf("deletes %d records in %s (approval: deletes)", n, m.Dest.Entity))
	}
	changed, covered := m.Counts[Create]+m.Counts[Update]+m.Counts[Delete], m.Covered()
	// The initial load into an empty destination changes every record by
	// design, and has nothing there to harm: the product's review
	// recommends it (Recommendation).
	initialLoad := m.Coupled == 0 && m.DestRead == 0
	if !initialLoad && covered > 0 && covered >= rule.MinRecords && rule.ChangedShare < 1 && float64(changed) > rule.ChangedShare*float64(covered) {
		m.NeedsApproval = append(m.NeedsApproval, fmt.Sprintf("%d of the %d records it covers would change (%s), more than approval: changed_share %s",
			changed, covered, percent(float64(changed)/float64(covered)), percent(rule.ChangedShare)))
	}
}

// percent writes a share as a percentage, without needless decimals.
func percent(share float64) string {
	return strconv.FormatFloat(math.Round(share*1000)/10, 'f', -1, 64) + "%"
}

// FirstSync reports whether some part of p reads a mapping for the first
// time (nothing coupled, no watermark): the product's review is shown then,
// as with a full plan.
func (p *Plan) FirstSync() bool {
	for _, m := range p.Mappings {
		if m.Coupled == 0 && m.Since.IsZero() && m.Record == "" && (m.Read > 0 || m.DestRead > 0) {
			return true
		}
	}
	return false
}

// Writes counts the operations that write to the destination system.
func (m *MappingPlan) Writes() int64 {
	return m.Counts[Create] + m.Counts[Update] + m.Counts[Restore] + m.Counts[Delete] + m.Counts[Couple]
}

// ComputeWarnings fills Warnings from what the plan read and found: a
// first read, and a change share large enough to suggest a wrong mapping.
func (m *MappingPlan) ComputeWarnings(full bool, localFilter []string) {
	m.Warnings = nil
	if m.DefinitionChanged {
		m.Warnings = append(m.Warnings, fmt.Sprintf("mapping %s changed since the last apply: every record was read and all %d coupled records compared", m.Name, m.Coupled))
	}
	if m.Since.IsZero() && !full && !m.DefinitionChanged && m.Record == "" && m.ChangeTracking != ChangesDelta {
		m.Warnings = append(m.Warnings, "no watermark yet: every record was read; later plans read only what changed")
	}
	if m.Since.IsZero() && len(localFilter) > 0 {
		m.Warnings = append(m.Warnings, "part of the filter cannot be sent to the server ("+strings.Join(localFilter, " && ")+"): those records are read and left out by coupler")
	}
	changed := m.Counts[Create] + m.Counts[Update] + m.Counts[Delete]
	if m.Read >= 100 && changed*2 > m.Read {
		m.Warnings = append(m.Warnings, fmt.Sprintf("%d of %d records read would change (%d%%): check the mapping before applying", changed, m.Read, changed*100/m.Read))
	}
}

// Operation is what happens to one record.
type Operation struct {
	Seq      int64  `json:"seq"`
	Kind     Kind   `json:"op"`
	SourceID string `json:"source_id"`
	DestID   string `json:"destination_id,omitempty"`
	// ETag is the destination's version when read; apply's write is
	// conditional on it.
	ETag string `json:"etag,omitempty"`
	// SourceETag is the source record's version when read.
	SourceETag     string    `json:"source_etag,omitempty"`
	SourceModified time.Time `json:"source_modified,omitzero"`
	Reason         string    `json:"reason,omitempty"`
	Changes        []Change  `json:"changes,omitempty"`
	// SourceDisplay and DestDisplay are the record's display fields
	// (mappings' display:) on each side as the plan read them: what people
	// know the record by. DestDisplay is empty when the destination record
	// was not read (a create).
	SourceDisplay Display `json:"source_display,omitempty"`
	DestDisplay   Display `json:"destination_display,omitempty"`
}

// Display is a record's display fields with their values, in the order
// the mapping names them; a field whose value is null is left out.
type Display []DisplayValue

// DisplayValue is one display field and its value as read, as JSON.
type DisplayValue struct {
	Field string          `json:"field"`
	Value json.RawMessage `json:"value"`
}

// Text joins the values for people: strings as they are, other values
// as JSON, separated by " · ". Empty when there are none.
func (d Display) Text() string {
	parts := make([]string, 0, len(d))
	for _, v := range d {
		var s string
		if json.Unmarshal(v.Value, &s) != nil {
			s = string(v.Value)
		}
		if s = strings.TrimSpace(s); s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, " · ")
}

// Change is one destination field's value before and after. Values are JSON;
// nil means null or absent.
type Change struct {
	Field  string          `json:"field"`
	Before json.RawMessage `json:"before"`
	After  json.RawMessage `json:"after"`
}

// Recommendation is the product's review before a full synchronization:
// what to do with a mapping given what each side holds.
func (m *MappingPlan) Recommendation() string {
	switch {
	case m.Read == 0 && m.DestRead == 0:
		return "nothing to do: neither side has records"
	case m.Read == 0:
		return "nothing to do from this side: only the " + m.Dest.Side + " side has records"
	case m.Coupled == 0 && m.DestRead == 0:
		return "full synchronization: only the " + m.Source.Side + " side has records; this plan creates them on the other side"
	case m.Coupled == 0 && m.Counts[Couple] > 0:
		return "couple records: both sides have records; this plan couples those its match fields pair up"
	case m.Coupled == 0:
		return "couple records first: both sides have records and none is coupled; run coupler couple --match (declare match fields), or creating them makes duplicates"
	}
	return "synchronize: records are coupled already; this plan brings them in step"
}
