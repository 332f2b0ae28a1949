package plan

import (
	"bytes"
	"encoding/json"
	"strings"
)

// KnownAfterApply is a lookup value the plan cannot know yet: the record it
// points to is created or coupled by an earlier part of the same plan, so
// its id exists only once apply has applied that part. Apply resolves it
// from the coupling that part made.
type KnownAfterApply struct {
	// Mapping is the lookup mapping whose coupling gives the value.
	Mapping string `json:"mapping"`
	// Side is the side of that mapping ID is on ("table" or
	// "integration"); the value is the id coupled to it on the other side.
	Side string `json:"side"`
	// ID is the record the lookup names, on Side.
	ID string `json:"id"`
}

// afterApplyPrefix starts the placeholder a known-after-apply lookup is
// saved as among a change's values: the prefix, the mapping, t (a table id)
// or f (an integration id), and the id, NUL-separated, so that no value a
// system holds can be mistaken for one. Saved plans hold it: it never
// changes.
const afterApplyPrefix = "\x00known after apply\x00"

// Placeholder is the string k is saved as in a change's after value.
func (k KnownAfterApply) Placeholder() string {
	dir := "f"
	if k.Side == SideTable {
		dir = "t"
	}
	return afterApplyPrefix + k.Mapping + "\x00" + dir + "\x00" + k.ID
}

// ParseKnownAfterApply reads a placeholder made by Placeholder.
func ParseKnownAfterApply(s string) (KnownAfterApply, bool) {
	rest, ok := strings.CutPrefix(s, afterApplyPrefix)
	if !ok {
		return KnownAfterApply{}, false
	}
	parts := strings.SplitN(rest, "\x00", 3)
	if len(parts) != 3 {
		return KnownAfterApply{}, false
	}
	side := SideIntegration
	if parts[1] == "t" {
		side = SideTable
	}
	return KnownAfterApply{Mapping: parts[0], Side: side, ID: parts[2]}, true
}

// KnownAfterApplyOf reports whether a change's JSON value is a placeholder,
// and which.
func KnownAfterApplyOf(raw json.RawMessage) (KnownAfterApply, bool) {
	// JSON writes a NUL only as \u0000, so a placeholder's text starts so;
	// other values are told apart without being decoded (apply asks this
	// of every value it writes).
	if !bytes.HasPrefix(raw, []byte(`"\u0000`)) {
		return KnownAfterApply{}, false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return KnownAfterApply{}, false
	}
	return ParseKnownAfterApply(s)
}

// MarshalJSON writes a value known after apply in the JSON plan's form,
// {"known_after_apply": {"mapping": ..., "side": ..., "id": ...}}
// (schemas/plan.schema.json), never as the saved placeholder.
func (c Change) MarshalJSON() ([]byte, error) {
	type change Change // without this method
	out := change(c)
	for _, v := range []*json.RawMessage{&out.Before, &out.After} {
		k, ok := KnownAfterApplyOf(*v)
		if !ok {
			continue
		}
		b, err := json.Marshal(struct {
			K KnownAfterApply `json:"known_after_apply"`
		}{k})
		if err != nil {
			return nil, err
		}
		*v = b
	}
	return json.Marshal(out)
}
