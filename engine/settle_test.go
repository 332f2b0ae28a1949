package engine_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/mappings"
)

// TestClientKeysKeepAlternateKey: with client_keys on a connector whose
// mapping keys accounts by a declared alternate key, a create sends the
// mapped account number, not a client GUID in its place, and the next plan
// finds every account coupled and unchanged.
func TestClientKeysKeepAlternateKey(t *testing.T) {
	t.Parallel()
	w := newRequestsWorld(t, 3, "accountnumber", `, client_keys: true, entities: { accounts: { alternate_key: [accountnumber] } }`)
	w.apply(w.plan(engine.PlanOptions{}).ID)
	nums := map[string]bool{}
	for _, c := range w.erp.All("customers") {
		nums[c["number"].(string)] = true
	}
	accounts := w.crm.All("accounts")
	if len(accounts) != 3 {
		t.Fatalf("%d accounts, want 3", len(accounts))
	}
	for _, a := range accounts {
		if !nums[a["accountnumber"].(string)] {
			t.Errorf("account %v has accountnumber %v, not an ERP customer number %v", a["accountid"], a["accountnumber"], nums)
		}
	}
	if again := w.plan(engine.PlanOptions{}); part(t, again, "to_integration").Counts[plan.Create] != 0 {
		t.Errorf("the next plan creates again: %v", part(t, again, "to_integration").Counts)
	}
}

// TestStaleUpdateSettledKeepsOtherChange: an update refused with 412
// because a CRM user changed the record meanwhile, setting the same name
// the ERP change brings and another city, is settled as happened by
// reading back (the record holds what was written). The user's city must
// still reach the ERP: the read-back version is not recorded as coupler's
// own write, so the next plan compares values instead of suppressing it as
// an echo.
func TestStaleUpdateSettledKeepsOtherChange(t *testing.T) {
	t.Parallel()
	w := newRequestsWorld(t, 1, "accountid", "")
	w.apply(w.plan(engine.PlanOptions{}).ID)
	w.apply(w.plan(engine.PlanOptions{}).ID)
	c := w.erp.All("customers")[0]
	if err := w.erp.Patch("customers", c["id"].(string), connectors.Record{"displayName": "Renamed Ltd"}); err != nil {
		t.Fatal(err)
	}
	p := w.plan(engine.PlanOptions{})
	a := w.crm.All("accounts")[0]
	if err := w.crm.Patch("accounts", a["accountid"].(string), connectors.Record{"name": "Renamed Ltd", "address1_city": "PARIS"}); err != nil {
		t.Fatal(err)
	}
	if res := w.apply(p.ID); len(res.Failures) != 0 {
		t.Fatalf("apply failures: %v (the 412 should be settled as happened)", res.Failures)
	}
	next := w.plan(engine.PlanOptions{})
	if got := part(t, next, "from_integration").Counts[plan.Update]; got != 1 {
		t.Fatalf("next plan: to %v, from %v; want the CRM user's city as one update of the ERP (ERP city %v, CRM city %v)",
			part(t, next, "to_integration").Counts, part(t, next, "from_integration").Counts,
			w.erp.All("customers")[0]["city"], w.crm.All("accounts")[0]["address1_city"])
	}
	w.apply(next.ID)
	if got := w.erp.All("customers")[0]["city"]; got != "PARIS" {
		t.Errorf("ERP city = %v, want the CRM user's PARIS", got)
	}
}

// TestClientKeysUndeclaredCompositeKeyWarns: client_keys cannot give a key
// to creates of a mapping keyed by several fields that are not a declared
// alternate key; compile says so, and says nothing when the key is
// declared or is one field.
func TestClientKeysUndeclaredCompositeKeyWarns(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, entities, key string
		warn                bool
	}{
		{"undeclared composite key", "", `"name,region"`, true},
		{"declared composite key", `, entities: { parts: { alternate_key: [name, region], key_types: { region: Edm.Int32 } } }`, `"name,region"`, false},
		{"one field", "", "partid", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "coupler.yaml"), `version: 1
connectors:
  bc: { type: odata, base_url: "http://erp.invalid/api" }
  dataverse: { type: odata, base_url: "http://crm.invalid/api", client_keys: true`+tt.entities+` }
mappings: ["mappings/*.yaml"]
`)
			writeFile(t, filepath.Join(dir, "mappings", "part.yaml"), `name: PART
table: { connector: bc, entity: items, key: id, modified: lastModifiedDateTime }
integration: { connector: dataverse, entity: parts, key: `+tt.key+`, modified: modifiedon }
direction: to_integration
fields:
  - { field: displayName, integration_field: name }
  - { field: region, integration_field: region }
`)
			p, diags := mappings.Load(dir, mappings.LoadOptions{})
			if diags.HasErrors() {
				t.Fatalf("load: %v", diags)
			}
			_, diags = engine.Compile(p)
			var warned bool
			for _, d := range diags {
				warned = warned || strings.Contains(d.Message, "client_keys: true on connector dataverse gives its creates no key")
			}
			if warned != tt.warn {
				t.Errorf("warned %v, want %v; diagnostics: %v", warned, tt.warn, diags)
			}
		})
	}
}
