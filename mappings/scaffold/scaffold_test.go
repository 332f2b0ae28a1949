package scaffold

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/couplerhq/coupler/mappings"
	"github.com/couplerhq/coupler/mappings/defaults"
)

const customerV1 = `# CUSTOMER, as bundled.
name: CUSTOMER
table: { connector: erp, entity: customers, key: id }
integration: { connector: crm, entity: accounts, key: accountid }
filter: blocked == " "
fields:
  - { field: number, integration_field: accountnumber }
  - { field: displayName, integration_field: name, to_integration: trim(value) }
`

const customerTestV1 = `mapping: CUSTOMER
cases:
  - name: a customer goes to the CRM
    input: { number: C1, displayName: " A ", blocked: " " }
    output: { accountnumber: C1, name: A }
`

const vendorV1 = `name: VENDOR
table: { connector: erp, entity: vendors, key: id }
integration: { connector: crm, entity: accounts, key: accountid }
fields:
  - { field: number, integration_field: accountnumber }
`

const contactV1 = `name: CONTACT
table: { connector: erp, entity: contacts, key: id }
integration: { connector: crm, entity: contacts, key: contactid }
fields:
  - { field: email, integration_field: emailaddress1 }
`

// v2 is an upgraded coupler: CUSTOMER gains a field and a new filter,
// VENDOR is unchanged, CONTACT is gone and ITEM is new.
var (
	customerV2 = strings.Replace(strings.Replace(customerV1,
		`filter: blocked == " "`, `filter: blocked == " " && number != ""`, 1),
		"  - { field: displayName", "  - { field: city, integration_field: address1_city }\n  - { field: displayName", 1)
	itemV2 = `name: ITEM
table: { connector: erp, entity: items, key: id }
integration: { connector: crm, entity: products, key: productid }
fields:
  - { field: number, integration_field: productnumber }
`
)

func bundledV1() fstest.MapFS {
	return fstest.MapFS{
		"erp-crm/customer.yaml":      {Data: []byte(customerV1)},
		"erp-crm/customer.test.yaml": {Data: []byte(customerTestV1)},
		"erp-crm/vendor.yaml":        {Data: []byte(vendorV1)},
		"erp-crm/contact.yaml":       {Data: []byte(contactV1)},
		"other/x.yaml":               {Data: []byte("name: X\n")},
	}
}

func bundledV2() fstest.MapFS {
	return fstest.MapFS{
		"erp-crm/customer.yaml":      {Data: []byte(customerV2)},
		"erp-crm/customer.test.yaml": {Data: []byte(customerTestV1)},
		"erp-crm/vendor.yaml":        {Data: []byte(vendorV1)},
		"erp-crm/item.yaml":          {Data: []byte(itemV2)},
	}
}

func initProject(t *testing.T, bundled fstest.MapFS) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "proj")
	if _, err := Init(dir, InitOptions{Set: "erp-crm", Bundled: bundled}); err != nil {
		t.Fatal(err)
	}
	return dir
}

func readFile(t *testing.T, dir, p string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(p)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeProjectFile(t *testing.T, dir, p, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(p)), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func statuses(r *Reset) map[string]Status {
	out := map[string]Status{}
	for _, fr := range r.Files {
		out[fr.File] = fr.Status
	}
	return out
}

func TestInit(t *testing.T) {
	dir := initProject(t, bundledV1())
	for _, p := range []string{"mappings/customer.yaml", "mappings/customer.test.yaml", "mappings/vendor.yaml", "mappings/contact.yaml"} {
		base := strings.TrimPrefix(p, "mappings/")
		want := string(bundledV1()["erp-crm/"+base].Data)
		if got := readFile(t, dir, p); got != want {
			t.Errorf("%s = %q, want the bundled content", p, got)
		}
		if got := readFile(t, dir, ".coupler-base/erp-crm/"+base); got != want {
			t.Errorf("base copy of %s = %q, want the bundled content", p, got)
		}
	}
	lock, err := ReadLock(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []LockedFile{
		{File: "mappings/contact.yaml", Bundled: "erp-crm/contact.yaml", Mapping: "CONTACT", SHA256: hash([]byte(contactV1))},
		{File: "mappings/customer.test.yaml", Bundled: "erp-crm/customer.test.yaml", Mapping: "CUSTOMER", SHA256: hash([]byte(customerTestV1))},
		{File: "mappings/customer.yaml", Bundled: "erp-crm/customer.yaml", Mapping: "CUSTOMER", SHA256: hash([]byte(customerV1))},
		{File: "mappings/vendor.yaml", Bundled: "erp-crm/vendor.yaml", Mapping: "VENDOR", SHA256: hash([]byte(vendorV1))},
	}
	if lock.Set != "erp-crm" || !reflect.DeepEqual(lock.Files, want) {
		t.Errorf("lock = %+v, want set erp-crm and %+v", lock, want)
	}
	if !strings.Contains(readFile(t, dir, LockFile), "Commit this file") {
		t.Error("lock file lacks its header comment")
	}
	project := readFile(t, dir, "coupler.yaml")
	for _, s := range []string{"version: 1", "  erp:\n    type: odata\n    base_url: \"${ERP_URL}\"\n    auth: { type: bearer, token: \"${ERP_TOKEN}\" }\n", "  crm:", `mappings: ["mappings/*.yaml"]`} {
		if !strings.Contains(project, s) {
			t.Errorf("coupler.yaml lacks %q:\n%s", s, project)
		}
	}

	// Init refuses to overwrite, naming what exists, and writes nothing.
	writeProjectFile(t, dir, "mappings/vendor.yaml", "# mine\n")
	_, err = Init(dir, InitOptions{Set: "erp-crm", Bundled: bundledV1()})
	var ee *ExistsError
	if !errors.As(err, &ee) || !strings.HasPrefix(err.Error(), filepath.Join(dir, "coupler.yaml")+", ") ||
		!strings.HasSuffix(err.Error(), " and 3 more already exist; use --force to overwrite") ||
		len(ee.Paths) != 6 || ee.Paths[5] != filepath.Join(dir, "mappings/vendor.yaml") {
		t.Fatalf("Init over a project: %v, want an ExistsError naming coupler.yaml, ..., vendor.yaml", err)
	}
	if got := readFile(t, dir, "mappings/vendor.yaml"); got != "# mine\n" {
		t.Errorf("Init without --force overwrote vendor.yaml")
	}
	if _, err := Init(dir, InitOptions{Set: "erp-crm", Bundled: bundledV1(), Force: true}); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, dir, "mappings/vendor.yaml"); got != vendorV1 {
		t.Errorf("Init --force left vendor.yaml as %q", got)
	}

	// An unknown set names the bundled ones.
	_, err = Init(t.TempDir(), InitOptions{Set: "nope", Bundled: bundledV1()})
	if err == nil || err.Error() != `unknown default mapping set "nope" (bundled: erp-crm, other)` {
		t.Errorf("Init of an unknown set: %v", err)
	}
}

// TestInitEmbedded initializes from the real bundled set and loads the
// result: the project must be valid as written.
func TestInitEmbedded(t *testing.T) {
	for _, set := range defaults.Sets(defaults.FS) {
		t.Run(set, func(t *testing.T) {
			dir := t.TempDir()
			res, err := Init(dir, InitOptions{Set: set})
			if err != nil {
				t.Fatal(err)
			}
			env := map[string]string{}
			for _, v := range res.Env {
				env[v] = "https://example.com/" + v
			}
			_, diags := mappings.Load(dir, mappings.LoadOptions{Getenv: func(n string) (string, bool) { v, ok := env[n]; return v, ok }})
			for _, d := range diags {
				if d.Severity == mappings.Error {
					t.Errorf("%s", d)
				}
			}
			r, err := PlanReset(dir, ResetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, fr := range r.Files {
				if fr.Status != Unchanged {
					t.Errorf("%s right after init: %s", fr.File, fr.Status)
				}
			}
			if r.UpdatesLock() {
				t.Error("reset right after init would update the lock")
			}
		})
	}
}

func TestResetPlain(t *testing.T) {
	dir := initProject(t, bundledV1())
	custom := strings.Replace(customerV1, "to_integration: trim(value)", "to_integration: upper(value)", 1)
	writeProjectFile(t, dir, "mappings/customer.yaml", custom)
	if err := os.Remove(filepath.Join(dir, "mappings/contact.yaml")); err != nil {
		t.Fatal(err)
	}
	r, err := PlanReset(dir, ResetOptions{Bundled: bundledV1()})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Status{
		"mappings/contact.yaml":       Restore,
		"mappings/customer.yaml":      Replace,
		"mappings/customer.test.yaml": Unchanged,
		"mappings/vendor.yaml":        Unchanged,
	}
	if got := statuses(r); !reflect.DeepEqual(got, want) {
		t.Errorf("statuses = %v, want %v", got, want)
	}
	var order []string
	for _, fr := range r.Files {
		order = append(order, fr.File)
	}
	if want := []string{"mappings/contact.yaml", "mappings/customer.yaml", "mappings/customer.test.yaml", "mappings/vendor.yaml"}; !reflect.DeepEqual(order, want) {
		t.Errorf("order = %v, want %v", order, want)
	}
	wantDiff := `--- mappings/customer.yaml (yours)
+++ bundled erp-crm/customer.yaml
@@ -5,4 +5,4 @@
 filter: blocked == " "
 fields:
   - { field: number, integration_field: accountnumber }
-  - { field: displayName, integration_field: name, to_integration: upper(value) }
+  - { field: displayName, integration_field: name, to_integration: trim(value) }
`
	for _, fr := range r.Files {
		if fr.File == "mappings/customer.yaml" && fr.Diff != wantDiff {
			t.Errorf("diff:\n%s\nwant:\n%s", fr.Diff, wantDiff)
		}
	}
	if !r.LosesChanges() {
		t.Error("LosesChanges = false")
	}
	if got := r.ResetMappings(); !reflect.DeepEqual(got, []string{"CONTACT", "CUSTOMER"}) {
		t.Errorf("ResetMappings = %v", got)
	}
	// Planning writes nothing.
	if got := readFile(t, dir, "mappings/customer.yaml"); got != custom {
		t.Fatal("PlanReset wrote customer.yaml")
	}
	if err := r.Apply(); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, dir, "mappings/customer.yaml"); got != customerV1 {
		t.Errorf("customer.yaml after reset = %q", got)
	}
	if got := readFile(t, dir, "mappings/contact.yaml"); got != contactV1 {
		t.Errorf("contact.yaml after reset = %q", got)
	}
	r, err = PlanReset(dir, ResetOptions{Bundled: bundledV1()})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Writes()) != 0 || r.UpdatesLock() {
		t.Errorf("a second reset would write %d file(s), update lock %v", len(r.Writes()), r.UpdatesLock())
	}
}

func TestResetSelect(t *testing.T) {
	dir := initProject(t, bundledV1())
	r, err := PlanReset(dir, ResetOptions{Bundled: bundledV2(), Mappings: []string{"CUSTOMER"}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Status{"mappings/customer.yaml": Replace, "mappings/customer.test.yaml": Unchanged}
	if got := statuses(r); !reflect.DeepEqual(got, want) {
		t.Errorf("statuses = %v, want %v", got, want)
	}
	if !reflect.DeepEqual(r.NotSelected, []string{"ITEM"}) {
		t.Errorf("NotSelected = %v, want [ITEM]", r.NotSelected)
	}
	// A mapping new in the defaults can be selected by name.
	r, err = PlanReset(dir, ResetOptions{Bundled: bundledV2(), Mappings: []string{"ITEM"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := statuses(r); !reflect.DeepEqual(got, map[string]Status{"mappings/item.yaml": Add}) {
		t.Errorf("statuses = %v", got)
	}
	_, err = PlanReset(dir, ResetOptions{Bundled: bundledV2(), Mappings: []string{"NOPE"}})
	if err == nil || err.Error() != `unknown mapping "NOPE" (known: CONTACT, CUSTOMER, ITEM, VENDOR)` {
		t.Errorf("unknown mapping: %v", err)
	}
	_, err = PlanReset(t.TempDir(), ResetOptions{Bundled: bundledV2()})
	var nl *NoLockError
	if !errors.As(err, &nl) {
		t.Errorf("reset without a lock: %v", err)
	}
}

// TestResetUpgrade resets a customized project to a newer bundled set, with
// and without keeping the customizations.
func TestResetUpgrade(t *testing.T) {
	custom := strings.Replace(customerV1, "to_integration: trim(value)", "to_integration: upper(trim(value))", 1)

	t.Run("merge", func(t *testing.T) {
		dir := initProject(t, bundledV1())
		writeProjectFile(t, dir, "mappings/customer.yaml", custom)
		r, err := PlanReset(dir, ResetOptions{Bundled: bundledV2(), KeepCustomizations: true})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]Status{
			"mappings/contact.yaml":       Gone,
			"mappings/customer.yaml":      Merged,
			"mappings/customer.test.yaml": Unchanged,
			"mappings/item.yaml":          Add,
			"mappings/vendor.yaml":        Unchanged,
		}
		if got := statuses(r); !reflect.DeepEqual(got, want) {
			t.Errorf("statuses = %v, want %v", got, want)
		}
		if r.LosesChanges() || r.ResetMappings() != nil {
			t.Errorf("a merge loses changes %v, resets %v", r.LosesChanges(), r.ResetMappings())
		}
		if err := r.Apply(); err != nil {
			t.Fatal(err)
		}
		merged := strings.Replace(customerV2, "to_integration: trim(value)", "to_integration: upper(trim(value))", 1)
		if got := readFile(t, dir, "mappings/customer.yaml"); got != merged {
			t.Errorf("merged customer.yaml:\n%s\nwant:\n%s", got, merged)
		}
		if got := readFile(t, dir, "mappings/item.yaml"); got != itemV2 {
			t.Errorf("item.yaml = %q", got)
		}
		if got := readFile(t, dir, "mappings/contact.yaml"); got != contactV1 {
			t.Errorf("contact.yaml, gone from the defaults, = %q", got)
		}
		if got := readFile(t, dir, ".coupler-base/erp-crm/customer.yaml"); got != customerV2 {
			t.Errorf("base copy not moved to the new bundled file: %q", got)
		}
		lock, err := ReadLock(dir)
		if err != nil {
			t.Fatal(err)
		}
		if e := lock.Entry("mappings/customer.yaml"); e == nil || e.SHA256 != hash([]byte(customerV2)) {
			t.Errorf("lock entry of customer.yaml = %+v", e)
		}
		if e := lock.Entry("mappings/item.yaml"); e == nil || e.Mapping != "ITEM" || e.Bundled != "erp-crm/item.yaml" {
			t.Errorf("lock entry of item.yaml = %+v", e)
		}
		if e := lock.Entry("mappings/contact.yaml"); e == nil || e.SHA256 != hash([]byte(contactV1)) {
			t.Errorf("lock entry of contact.yaml, gone from the defaults = %+v", e)
		}
		// Once merged, the same upgrade brings nothing more.
		r, err = PlanReset(dir, ResetOptions{Bundled: bundledV2(), KeepCustomizations: true})
		if err != nil {
			t.Fatal(err)
		}
		if st := statuses(r)["mappings/customer.yaml"]; st != Kept || len(r.Writes()) != 0 || r.UpdatesLock() {
			t.Errorf("second merge: customer.yaml %s, %d write(s), updates lock %v", st, len(r.Writes()), r.UpdatesLock())
		}
	})

	t.Run("conflict", func(t *testing.T) {
		dir := initProject(t, bundledV1())
		conflicting := strings.Replace(customerV1, `filter: blocked == " "`, `filter: blocked == ""`, 1)
		writeProjectFile(t, dir, "mappings/customer.yaml", conflicting)
		if err := os.Remove(filepath.Join(dir, "mappings/vendor.yaml")); err != nil {
			t.Fatal(err)
		}
		before := readFile(t, dir, LockFile)
		r, err := PlanReset(dir, ResetOptions{Bundled: bundledV2(), KeepCustomizations: true})
		if err != nil {
			t.Fatal(err)
		}
		if st := statuses(r); st["mappings/customer.yaml"] != Conflicted || st["mappings/vendor.yaml"] != KeptDeleted {
			t.Errorf("statuses = %v", st)
		}
		var got []string
		for _, c := range r.Conflicts() {
			got = append(got, c.String())
		}
		want := []string{`mappings/customer.yaml: filter: yours 'blocked == ""', bundled 'blocked == " " && number != ""', base 'blocked == " "'`}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("conflicts = %q, want %q", got, want)
		}
		if err := r.Apply(); err == nil {
			t.Error("Apply with conflicts succeeded")
		}
		if readFile(t, dir, "mappings/customer.yaml") != conflicting || readFile(t, dir, LockFile) != before {
			t.Error("a reset with conflicts wrote something")
		}
	})

	t.Run("missing base", func(t *testing.T) {
		dir := initProject(t, bundledV1())
		writeProjectFile(t, dir, "mappings/customer.yaml", custom)
		writeProjectFile(t, dir, "mappings/vendor.yaml", vendorV1+"# mine\n")
		if err := os.RemoveAll(filepath.Join(dir, BaseDir)); err != nil {
			t.Fatal(err)
		}
		r, err := PlanReset(dir, ResetOptions{Bundled: bundledV2(), KeepCustomizations: true})
		if err != nil {
			t.Fatal(err)
		}
		// VENDOR's bundled file did not change: it serves as the base.
		st := statuses(r)
		if st["mappings/vendor.yaml"] != Kept || st["mappings/customer.yaml"] != Conflicted {
			t.Errorf("statuses = %v", st)
		}
		if c := r.Conflicts(); len(c) != 1 || !strings.Contains(c[0].String(), "mappings/customer.yaml: cannot merge: its base copy .coupler-base/erp-crm/customer.yaml is missing") {
			t.Errorf("conflicts = %v", c)
		}
	})

	t.Run("plain", func(t *testing.T) {
		dir := initProject(t, bundledV1())
		writeProjectFile(t, dir, "mappings/customer.yaml", custom)
		r, err := PlanReset(dir, ResetOptions{Bundled: bundledV2()})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Apply(); err != nil {
			t.Fatal(err)
		}
		if got := readFile(t, dir, "mappings/customer.yaml"); got != customerV2 {
			t.Errorf("customer.yaml = %q", got)
		}
		if got := r.ResetMappings(); !reflect.DeepEqual(got, []string{"CUSTOMER", "ITEM"}) {
			t.Errorf("ResetMappings = %v", got)
		}
	})

	t.Run("renamed bundled file", func(t *testing.T) {
		dir := initProject(t, bundledV1())
		writeProjectFile(t, dir, "mappings/customer.yaml", custom)
		v2 := bundledV2()
		v2["erp-crm/customers.yaml"] = v2["erp-crm/customer.yaml"]
		delete(v2, "erp-crm/customer.yaml")
		r, err := PlanReset(dir, ResetOptions{Bundled: v2, KeepCustomizations: true, Mappings: []string{"CUSTOMER"}})
		if err != nil {
			t.Fatal(err)
		}
		if st := statuses(r); st["mappings/customer.yaml"] != Merged || len(st) != 2 {
			t.Errorf("statuses = %v", st)
		}
		if err := r.Apply(); err != nil {
			t.Fatal(err)
		}
		lock, _ := ReadLock(dir)
		if e := lock.Entry("mappings/customer.yaml"); e == nil || e.Bundled != "erp-crm/customers.yaml" {
			t.Errorf("lock entry = %+v", e)
		}
		if _, err := os.Stat(filepath.Join(dir, BaseDir, "erp-crm/customer.yaml")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the old base copy is still there: %v", err)
		}
		if got := readFile(t, dir, ".coupler-base/erp-crm/customers.yaml"); got != customerV2 {
			t.Errorf("new base copy = %q", got)
		}

		// A new bundled file that takes the old name is not added over
		// the user's file.
		v2["erp-crm/customer.yaml"] = &fstest.MapFile{Data: []byte(strings.Replace(itemV2, "ITEM", "CUSTOMER2", 1))}
		r, err = PlanReset(dir, ResetOptions{Bundled: v2})
		if err != nil {
			t.Fatal(err)
		}
		for _, fr := range r.Files {
			if fr.Mapping == "CUSTOMER2" && (fr.Status != Skipped || fr.Message() != "new in the defaults; not added: mappings/customer.yaml holds CUSTOMER, which coupler.lock ties to bundled erp-crm/customers.yaml") {
				t.Errorf("CUSTOMER2: %s", fr.Message())
			}
			if fr.File == "mappings/customer.yaml" && fr.Status != Skipped && fr.Mapping != "CUSTOMER" {
				t.Errorf("mappings/customer.yaml planned as %s", fr.Mapping)
			}
		}
	})

	t.Run("new tests of a deleted mapping", func(t *testing.T) {
		dir := initProject(t, bundledV1())
		if err := os.Remove(filepath.Join(dir, "mappings/vendor.yaml")); err != nil {
			t.Fatal(err)
		}
		v2 := bundledV2()
		v2["erp-crm/vendor.test.yaml"] = &fstest.MapFile{Data: []byte("mapping: VENDOR\ncases: []\n")}
		r, err := PlanReset(dir, ResetOptions{Bundled: v2, KeepCustomizations: true, Mappings: []string{"VENDOR"}})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]Status{"mappings/vendor.yaml": KeptDeleted, "mappings/vendor.test.yaml": Skipped}
		if got := statuses(r); !reflect.DeepEqual(got, want) {
			t.Errorf("statuses = %v, want %v", got, want)
		}
		// A plain reset restores the mapping, and adds its tests.
		r, err = PlanReset(dir, ResetOptions{Bundled: v2, Mappings: []string{"VENDOR"}})
		if err != nil {
			t.Fatal(err)
		}
		want = map[string]Status{"mappings/vendor.yaml": Restore, "mappings/vendor.test.yaml": Add}
		if got := statuses(r); !reflect.DeepEqual(got, want) {
			t.Errorf("statuses = %v, want %v", got, want)
		}
	})
}
