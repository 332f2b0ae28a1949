package engine_test

import (
	"io/fs"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/couplerhq/coupler/connectors/fake"
	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/mappings"
	"github.com/couplerhq/coupler/mappings/defaults"
)

// TestBundledChoiceMappingsAgainstStrictCRM: the bundled PAYMENT TERMS,
// SHIPMENT METHOD and SHIPPING AGENT mappings write the options of account
// choice columns against a CRM that is as strict as Dataverse, where
// stringmaps is read-only and options change only through the
// InsertOptionValue / UpdateOptionValue actions. The first apply makes every
// BC code an option (coupling those Dataverse ships by label, case
// ignored), stringmaps lists them, and the next plan has nothing to do.
// Before, every create and update was a write to stringmaps, refused.
func TestBundledChoiceMappingsAgainstStrictCRM(t *testing.T) {
	t.Parallel()
	erp, crm := fake.NewERP(), fake.NewCRM()
	if err := fake.SeedAll(erp, crm, 8); err != nil {
		t.Fatal(err)
	}
	dir := bcDataverseProject(t, erp, crm, "")
	columns := map[string]string{ // bundled file -> the account column its options are
		"payment-terms.yaml":   "paymenttermscode",
		"shipment-method.yaml": "address1_freighttermscode",
		"shipping-agent.yaml":  "address1_shippingmethodcode",
	}
	for file := range columns {
		body, err := fs.ReadFile(defaults.FS, "bc-dataverse/"+file)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, "mappings", file), string(body))
	}
	e, diags, err := engine.OpenProject(t.Context(), dir, mappings.LoadOptions{}, engine.Options{})
	if err != nil {
		t.Fatalf("open project: %v\n%v", err, diags)
	}
	t.Cleanup(func() { e.Close() })
	w := &world{t: t, erp: erp, crm: crm, dir: dir, e: e}
	// validate --online: the option entities are described by the
	// connector, from the columns' definitions.
	for _, d := range e.CheckOnline(t.Context()) {
		t.Errorf("validate --online: %v", d)
	}

	p := w.plan(engine.PlanOptions{})
	res := w.apply(p.ID)
	for _, f := range res.Failures {
		t.Errorf("%s: record %s: %s", f.Mapping, f.SourceID, f.Message)
	}
	// Every BC code is now an option labelled with the code, in stringmaps
	// as Dataverse lists them.
	codes := map[string]string{"paymenttermscode": "paymentTerms", "address1_freighttermscode": "shipmentMethods",
		"address1_shippingmethodcode": "shippingAgents"}
	for _, column := range columns {
		labels := map[string]bool{}
		for _, sm := range crm.All("stringmaps") {
			if sm["objecttypecode"] == "account" && sm["attributename"] == column {
				labels[sm["value"].(string)] = true
			}
		}
		for _, rec := range erp.All(codes[column]) {
			if code := rec["code"].(string); !labels[code] {
				t.Errorf("account.%s has no option labelled %q after apply; options: %v", column, code, labels)
			}
		}
	}
	next := w.plan(engine.PlanOptions{})
	for _, m := range next.Mappings {
		for _, k := range plan.Writes {
			if m.Counts[k] != 0 {
				t.Errorf("next plan: %s has %d %s, want none (%v)", m.Name, m.Counts[k], k, m.Counts)
			}
		}
		if m.Counts[plan.Fail] != 0 {
			t.Errorf("next plan: %s has %d failing", m.Name, m.Counts[plan.Fail])
		}
	}
	if t.Failed() {
		var b strings.Builder
		for _, sm := range crm.All("stringmaps") {
			b.WriteString(sm["attributename"].(string) + " " + sm["value"].(string) + "\n")
		}
		t.Logf("stringmaps:\n%s", b.String())
	}
}

// TestLostOptionCreateSettledByItsValue: an InsertOptionValue whose answer
// is lost is found by the value the mapping sent, which is the option's
// key, with client_keys off: the apply records it as inserted and coupled,
// and the next plan neither creates it again nor stops on it. Options have
// no modified field, so without their key the create could not be told
// apart and the apply would stop until someone looked.
func TestLostOptionCreateSettledByItsValue(t *testing.T) {
	t.Parallel()
	erp, crm := fake.NewERP(), fake.NewCRM()
	if err := fake.SeedAll(erp, crm, 8); err != nil {
		t.Fatal(err)
	}
	var lost atomic.Int32
	dir := bcDataverseProject(t, erp, loseCreates(crm, "InsertOptionValue", &lost), "")
	body, err := fs.ReadFile(defaults.FS, "bc-dataverse/payment-terms.yaml")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "mappings", "payment-terms.yaml"), string(body))
	e, diags, err := engine.OpenProject(t.Context(), dir, mappings.LoadOptions{}, engine.Options{})
	if err != nil {
		t.Fatalf("open project: %v\n%v", err, diags)
	}
	t.Cleanup(func() { e.Close() })
	w := &world{t: t, erp: erp, crm: crm, dir: dir, e: e}
	res, err := e.Apply(t.Context(), w.plan(engine.PlanOptions{}).ID)
	if err != nil {
		t.Fatalf("apply: %v; want the lost creates settled by their values", err)
	}
	if lost.Load() == 0 {
		t.Fatal("no create was lost")
	}
	for _, f := range res.Failures {
		t.Errorf("%s: record %s: %s", f.Mapping, f.SourceID, f.Message)
	}
	if r := res.Runs[0]; r.Inserted != int64(lost.Load()) {
		t.Errorf("run = %+v, want the %d lost creates inserted", r, lost.Load())
	}
	next := w.plan(engine.PlanOptions{})
	if c := next.Mappings[0].Counts; c[plan.Create] != 0 || c[plan.Update] != 0 || c[plan.Couple] != 0 || c[plan.Fail] != 0 {
		t.Errorf("next plan: %v, want nothing to do", c)
	}
	if got := len(crm.Options("account", "paymenttermscode")); got != 7 {
		t.Errorf("%d payment terms options, want Dataverse's 4 and BC's 3 others", got)
	}
}
