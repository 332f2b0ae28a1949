package conformance_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/connectors/conformance"
	"github.com/couplerhq/coupler/connectors/fake"
	"github.com/couplerhq/coupler/connectors/odata"
)

// TestCAPChangeSets writes through $batch change sets (atomicity: batch)
// into SAP CAP, in multipart and in JSON batches: a batch holding a stale
// update must leave every record of it as it was and report each as
// failed, while the same writes with the default atomicity fail the stale
// record only.
func TestCAPChangeSets(t *testing.T) {
	t.Parallel()
	root := conformance.StartCAP(t)
	for _, format := range []string{odata.BatchFormatMultipart, odata.BatchFormatJSON} {
		t.Run(format, func(t *testing.T) { testChangeSets(t, root, format) })
	}
}

// TestFakeChangeSets is TestCAPChangeSets against the fake CRM, which runs
// without node: in multipart batches, the only format it takes (as
// Dataverse), and in JSON batches once it is made to take them.
func TestFakeChangeSets(t *testing.T) {
	for _, format := range []string{odata.BatchFormatMultipart, odata.BatchFormatJSON} {
		t.Run(format, func(t *testing.T) {
			s := fake.NewCRM()
			if format == odata.BatchFormatJSON {
				s.SetBatchFormats(fake.BatchJSON)
			}
			s.SetClock(steppingClock())
			srv := httptest.NewServer(http.StripPrefix("/api/data/v9.2", s))
			defer srv.Close()
			testChangeSets(t, srv.URL+"/api/data/v9.2", format)
		})
	}
}

func testChangeSets(t *testing.T, base, format string) {
	accounts := connectors.Entity{Name: "accounts", Key: "accountid", Modified: "modifiedon"}
	conn := func(atomicity string) connectors.Connector {
		c, err := connectors.New(connectors.Config{Name: "crm", Type: "odata", BaseURL: base, MaxRetries: 2, Settings: &odata.Settings{BatchSize: 10, BatchFormat: format, Atomicity: atomicity}})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	plain := conn("")
	tag := fmt.Sprintf("cs%d", time.Now().UnixNano()%1e12)
	create := func(name string) connectors.WriteResult {
		res, err := plain.Write(t.Context(), accounts, []connectors.WriteOp{{Op: connectors.OpCreate,
			Fields: connectors.Record{"name": name, "accountnumber": tag}}})
		if err != nil || res[0].Err != nil {
			t.Fatalf("create %s: %v %v", name, err, res)
		}
		return res[0]
	}
	names := func() map[string]string {
		var out = map[string]string{}
		err := plain.Read(t.Context(), connectors.Query{Entity: accounts, Fields: []string{"name"}, Filter: "accountnumber eq '" + tag + "'"},
			func(p connectors.Page) error {
				for _, r := range p.Records {
					out[r["accountid"].(string)] = r["name"].(string)
				}
				return nil
			})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	a, b := create("a"), create("b")
	// b changes after it was read: its ETag goes stale.
	edited, err := plain.Write(t.Context(), accounts, []connectors.WriteOp{{Op: connectors.OpUpdate, Key: b.Key, ETag: b.ETag, Fields: connectors.Record{"name": "b edited"}}})
	if err != nil || edited[0].Err != nil {
		t.Fatalf("edit b: %v %v", err, edited)
	}
	if edited[0].ETag == b.ETag {
		time.Sleep(10 * time.Millisecond) // CAP's ETag is a millisecond stamp
	}
	ops := []connectors.WriteOp{
		{Op: connectors.OpUpdate, Key: a.Key, ETag: a.ETag, Fields: connectors.Record{"name": "a2"}},
		{Op: connectors.OpUpdate, Key: b.Key, ETag: b.ETag, Fields: connectors.Record{"name": "b2"}},
		{Op: connectors.OpCreate, Fields: connectors.Record{"name": "c", "accountnumber": tag}},
	}

	res, err := conn(odata.AtomicityBatch).Write(t.Context(), accounts, ops)
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(res[1].Err, connectors.ErrStale) {
		t.Errorf("stale update in a change set: %v, want ErrStale", res[1].Err)
	}
	for _, i := range []int{0, 2} {
		if !errors.Is(res[i].Err, odata.ErrRolledBack) {
			t.Errorf("op %d of the failed change set: %v, want ErrRolledBack", i, res[i].Err)
		}
	}
	if got, want := names(), map[string]string{a.Key: "a", b.Key: "b edited"}; !equal(got, want) {
		t.Errorf("after the failed change set: %v, want %v (nothing written)", got, want)
	}

	// The default: the stale record fails alone.
	res, err = plain.Write(t.Context(), accounts, ops)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err != nil || !errors.Is(res[1].Err, connectors.ErrStale) || res[2].Err != nil {
		t.Errorf("atomicity record: %v / %v / %v", res[0].Err, res[1].Err, res[2].Err)
	}
	if got := names(); len(got) != 3 || got[a.Key] != "a2" || got[b.Key] != "b edited" {
		t.Errorf("after atomicity record: %v", got)
	}

	// A change set of good writes is written whole.
	cur := names()
	var good []connectors.WriteOp
	for k := range cur {
		good = append(good, connectors.WriteOp{Op: connectors.OpUpdate, Key: k, Fields: connectors.Record{"name": "all"}})
	}
	res, err = conn(odata.AtomicityBatch).Write(t.Context(), accounts, good)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Err != nil || r.ETag == "" {
			t.Errorf("good change set, op %d: %+v", i, r)
		}
	}
	for k, n := range names() {
		if n != "all" {
			t.Errorf("%s = %q after the good change set", k, n)
		}
	}
}

func equal(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
