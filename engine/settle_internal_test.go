package engine

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/connectors/odata"
	"github.com/couplerhq/coupler/engine/state"
	"github.com/couplerhq/coupler/internal/guid"
	"github.com/couplerhq/coupler/mappings"
)

// recordsConn is a connector holding fixed records: what settling reads
// back. Writes are not expected.
type recordsConn struct {
	recs []connectors.Record
}

func (c *recordsConn) Read(_ context.Context, _ connectors.Query, fn func(connectors.Page) error) error {
	return fn(connectors.Page{Records: c.recs})
}

func (c *recordsConn) Get(_ context.Context, e connectors.Entity, _ []string, ids []string) ([]connectors.Record, error) {
	var out []connectors.Record
	for _, r := range c.recs {
		for _, id := range ids {
			if k, _ := recordKey(r, e.Key); k == id {
				out = append(out, r)
			}
		}
	}
	return out, nil
}

func (c *recordsConn) Write(context.Context, connectors.Entity, []connectors.WriteOp) ([]connectors.WriteResult, error) {
	panic("settling does not write")
}

// readBackConn is a recordsConn that reads lookups back as the odata
// connector says Dataverse does (connectors.ReadBacker): under another
// name, and one to a record addressed by an alternate key (whose id is no
// GUID) not at all, since it reads back as the target's GUID.
type readBackConn struct{ recordsConn }

func (c *readBackConn) ReadBack(_, field string, v any) (string, any, bool) {
	ref, ok := v.(connectors.Reference)
	if !ok {
		return field, v, true
	}
	if ref.Key != "" && !guid.Is(ref.Key) {
		return "", nil, false
	}
	return "_" + field + "_value", connectors.PlainValue(ref), true
}

// reference is a connectors.Reference as a write intent stores it.
func reference(entity, key string) string {
	b, _ := connectors.Reference{Entity: entity, Key: key}.MarshalJSON()
	return string(b)
}

// TestSettleCreateByValues settles one lost create of a contact (no client
// key) against the contacts read back, as Dataverse returns them: a lookup
// bound by an alternate key reads back as the account's GUID.
func TestSettleCreateByValues(t *testing.T) {
	t.Parallel()
	const (
		g1, g2   = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
		acc      = "9c38d89d-e73a-47c1-b7b2-af442aea1b69"
		modified = "2030-01-01T00:00:00Z"
	)
	smith := func(id string) connectors.Record {
		return connectors.Record{"contactid": id, "lastname": "Smith", "_parentcustomerid_value": acc, "modifiedon": modified}
	}
	withParent := `{"lastname":"Smith","parentcustomerid":` + reference("accounts", "A-1") + `}`
	tests := []struct {
		name        string
		fields      string
		recs        []connectors.Record
		noModified  bool
		coupledByTo string // a contact coupled by the other mapping of contacts
		handCoupled bool   // the source record was coupled by hand since
		wantKey     string // "" for not happened
		wantUnknown string // part of the message when it cannot be told
	}{
		{name: "values match", fields: `{"lastname":"Smith"}`, recs: []connectors.Record{smith(g1)}, wantKey: g1},
		{name: "values differ", fields: `{"lastname":"Jones"}`, recs: []connectors.Record{smith(g1)}},
		{name: "lookup by alternate key left out, the rest picks one record", fields: withParent,
			recs: []connectors.Record{smith(g1), {"contactid": g2, "lastname": "Jones", "modifiedon": modified}}, wantKey: g1},
		{name: "lookup by alternate key left out, two records alike", fields: withParent,
			recs: []connectors.Record{smith(g1), smith(g2)}, wantUnknown: "2 uncoupled records hold its values apart from parentcustomerid"},
		{name: "lookup by primary key compared", fields: `{"lastname":"Smith","parentcustomerid":` + reference("accounts", strings.ToUpper(acc)) + `}`,
			recs: []connectors.Record{smith(g1)}, wantKey: g1},
		{name: "lookup by primary key differs", fields: `{"lastname":"Smith","parentcustomerid":` + reference("accounts", g2) + `}`,
			recs: []connectors.Record{smith(g1)}},
		{name: "only a lookup by alternate key", fields: `{"parentcustomerid":` + reference("accounts", "A-1") + `}`,
			recs: []connectors.Record{smith(g1)}, wantUnknown: "client_keys: true"},
		{name: "no fields", fields: `{}`, recs: []connectors.Record{smith(g1)}, wantUnknown: "no value to recognise the record by"},
		{name: "only empty values", fields: `{"jobtitle":null,"lastname":""}`, recs: []connectors.Record{{"contactid": g1, "modifiedon": modified}},
			wantUnknown: "no value to recognise the record by"},
		{name: "no modified field", fields: `{"lastname":"Smith"}`, recs: []connectors.Record{smith(g1)}, noModified: true,
			wantUnknown: "no modified field"},
		{name: "no modified field, the source coupled by hand since", fields: `{"lastname":"Smith"}`, recs: []connectors.Record{smith(g1)}, noModified: true,
			handCoupled: true},
		{name: "record coupled by another mapping", fields: `{"lastname":"Smith"}`, recs: []connectors.Record{smith(g1)}, coupledByTo: g1},
		{name: "record coupled by another mapping, a twin is free", fields: `{"lastname":"Smith"}`, recs: []connectors.Record{smith(g1), smith(g2)},
			coupledByTo: g1, wantKey: g2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			db, err := state.Open(ctx, filepath.Join(t.TempDir(), "state.duckdb"), state.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			contacts := mappings.Side{Connector: "dataverse", Entity: "contacts", Key: "contactid", Modified: "modifiedon"}
			e := &Engine{store: db, work: db, log: slog.New(slog.NewTextHandler(io.Discard, nil)), now: time.Now, prog: &Program{Project: &mappings.Project{
				Connectors: []*mappings.Connector{{Config: connectors.Config{Name: "dataverse", Type: "odata",
					Settings: &odata.Settings{AlternateKeys: map[string]odata.AlternateKey{"accounts": {Fields: []string{"accountnumber"}}}}}}},
				Mappings: []*mappings.Mapping{
					{Name: "CONTACT", Table: mappings.Side{Connector: "bc", Entity: "contacts", Key: "id"}, Integration: contacts},
					{Name: "PERSON", Table: mappings.Side{Connector: "bc", Entity: "people", Key: "id"}, Integration: contacts},
				}}}}
			couple := func(mapping, source, dest string) {
				run, err := db.StartRun(ctx, "p0", mapping, "to_integration", time.Now())
				if err != nil {
					t.Fatal(err)
				}
				err = db.RecordResults(ctx, run, state.CouplingSide{Mapping: mapping, SourceIsTable: true},
					[]state.RecordResult{{Seq: 1, SourceID: source, DestID: dest, Op: "couple", Couple: true, At: time.Now()}})
				if err != nil {
					t.Fatal(err)
				}
			}
			if tt.coupledByTo != "" {
				couple("PERSON", "person-1", tt.coupledByTo)
			}
			if tt.handCoupled {
				couple("CONTACT", "c-1", g2)
			}
			entity := connectors.Entity{Name: "contacts", Key: "contactid", Modified: "modifiedon"}
			if tt.noModified {
				entity.Modified = ""
			}
			in := state.Intent{PlanID: "p1", Mapping: "CONTACT", Direction: "to_integration", Seq: 1, Op: "create", SourceID: "c-1",
				Fields: tt.fields, CreatedAt: time.Now()}
			out, err := e.settle(ctx, &readBackConn{recordsConn{recs: tt.recs}}, "dataverse", entity, state.CouplingSide{Mapping: "CONTACT", SourceIsTable: true},
				[]state.Intent{in}, map[string]bool{})
			if err != nil {
				t.Fatal(err)
			}
			o := out[0]
			switch {
			case tt.wantUnknown != "":
				if o.happened || !strings.Contains(o.unknown, tt.wantUnknown) {
					t.Errorf("outcome %+v, want it unknown with a message containing %q", o, tt.wantUnknown)
				}
			case o.unknown != "":
				t.Errorf("unknown: %s", o.unknown)
			case o.happened != (tt.wantKey != "") || o.key != tt.wantKey:
				t.Errorf("happened %v on %q, want happened %v on %q", o.happened, o.key, tt.wantKey != "", tt.wantKey)
			}
		})
	}
}

// TestSettleMarks: a write settled by reading back records the record's
// ETag and modified-on as last-synced marks only when the record is known
// to be coupler's creation (its own client key, or found by every value
// written); an update that the record holds, or a record found by the
// value of an alternate key, may carry somebody else's change too.
func TestSettleMarks(t *testing.T) {
	t.Parallel()
	const g1 = "11111111-1111-4111-8111-111111111111"
	own := clientKey(state.Part{Mapping: "ACCOUNT", Direction: "to_integration"}, "c-1")
	tests := []struct {
		name      string
		key       string // the destination's key field
		in        state.Intent
		rec       connectors.Record
		wantMarks bool
	}{
		{"create by its own client key", "accountid",
			state.Intent{Op: "create", ClientKey: own, Fields: `{"name":"Acme"}`},
			connectors.Record{"accountid": own, "name": "Acme"}, true},
		{"create by the value of an alternate key", "accountnumber",
			state.Intent{Op: "create", ClientKey: "A-1", Fields: `{"accountnumber":"A-1","name":"Acme"}`},
			connectors.Record{"accountid": g1, "accountnumber": "A-1", "name": "Acme"}, false},
		{"update the record holds", "accountid",
			state.Intent{Op: "update", DestID: g1, Fields: `{"name":"Acme"}`},
			connectors.Record{"accountid": g1, "name": "Acme", "address1_city": "PARIS"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.in.Mapping, tt.in.Direction, tt.in.SourceID, tt.in.CreatedAt = "ACCOUNT", "to_integration", "c-1", time.Now()
			e := &Engine{prog: &Program{Project: &mappings.Project{}}}
			out, err := e.settle(t.Context(), &recordsConn{recs: []connectors.Record{tt.rec}}, "dataverse",
				connectors.Entity{Name: "accounts", Key: tt.key, Modified: "modifiedon"},
				state.CouplingSide{Mapping: "ACCOUNT", SourceIsTable: true}, []state.Intent{tt.in}, map[string]bool{})
			if err != nil {
				t.Fatal(err)
			}
			if !out[0].happened || out[0].marks != tt.wantMarks {
				t.Errorf("happened %v, marks %v; want happened, marks %v", out[0].happened, out[0].marks, tt.wantMarks)
			}
		})
	}
}
