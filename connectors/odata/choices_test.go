package odata

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/connectors/fake"
)

var paymentTerms = connectors.Entity{Name: "choices(account.paymenttermscode)", Key: "value"}

// definition is a column definition as Dataverse answers it, with the
// options value -> label (1033).
func definition(opts ...any) map[string]any {
	var list []map[string]any
	for i := 0; i+1 < len(opts); i += 2 {
		list = append(list, map[string]any{
			"Value": opts[i], "Color": nil, "IsManaged": true,
			"Label": map[string]any{
				"LocalizedLabels":    []any{map[string]any{"Label": opts[i+1], "LanguageCode": 1033, "IsManaged": true}},
				"UserLocalizedLabel": map[string]any{"Label": opts[i+1], "LanguageCode": 1033},
			},
			"Description": map[string]any{"LocalizedLabels": []any{}, "UserLocalizedLabel": nil},
		})
	}
	return map[string]any{
		"@odata.context": "$metadata#EntityDefinitions('x')/Attributes/Microsoft.Dynamics.CRM.PicklistAttributeMetadata(LogicalName,OptionSet)/$entity",
		"LogicalName":    "paymenttermscode", "MetadataId": "118771ca-6fb9-4f60-8fd4-99b6124b63ad",
		"OptionSet": map[string]any{"MetadataId": "ab5c5fbe-0c2a-4b2e-a9ba-2e44c4a6d2c1", "Options": list},
	}
}

// actionServer records the requests it gets and answers reads with the
// definition and actions with answer(action, body).
type actionServer struct {
	mu     sync.Mutex
	reqs   []string // "METHOD path?query body"
	def    map[string]any
	answer func(w http.ResponseWriter, action string, body map[string]any)
}

func (s *actionServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.reqs = append(s.reqs, strings.TrimSpace(r.Method+" "+r.URL.RequestURI()+" "+string(b)))
	s.mu.Unlock()
	if r.Method == http.MethodGet {
		writeJSON(w, http.StatusOK, s.def)
		return
	}
	var body map[string]any
	_ = json.Unmarshal(b, &body)
	s.answer(w, strings.TrimPrefix(r.URL.Path, "/svc/"), body)
}

func TestChoiceRead(t *testing.T) {
	srv := &actionServer{def: definition(1, "Net 30", 2, "2% 10, Net 30", 100000000, "COD")}
	c, _ := newTestClient(t, srv, nil)
	var got []connectors.Record
	err := c.Read(t.Context(), connectors.Query{Entity: paymentTerms, Filter: "label eq 'COD'"}, func(p connectors.Page) error {
		got = append(got, p.Records...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `[map[description:<nil> label:Net 30 value:1] map[description:<nil> label:2% 10, Net 30 value:2] map[description:<nil> label:COD value:100000000]]`
	if fmt.Sprint(got) != want {
		t.Errorf("records = %v, want %v", got, want)
	}
	wantURL := "GET /svc/EntityDefinitions(LogicalName='account')/Attributes(LogicalName='paymenttermscode')/Microsoft.Dynamics.CRM.PicklistAttributeMetadata?$select=LogicalName&$expand=OptionSet($select=Options),GlobalOptionSet($select=Options)"
	if len(srv.reqs) != 1 || srv.reqs[0] != wantURL {
		t.Errorf("requests = %q, want one %q (the filter is coupler's to apply)", srv.reqs, wantURL)
	}
	recs, err := c.Get(t.Context(), paymentTerms, nil, []string{"2", "100000000", "7"})
	if err != nil || len(recs) != 2 || recs[0]["label"] != "2% 10, Net 30" || recs[1]["label"] != "COD" {
		t.Errorf("Get 2, 100000000, 7 = %v, %v; want the two options that exist", recs, err)
	}
	if u, err := c.ExplainRead(connectors.Query{Entity: paymentTerms}); err != nil || !strings.HasSuffix(u, strings.TrimPrefix(wantURL, "GET ")) {
		t.Errorf("ExplainRead = %q, %v", u, err)
	}
}

func TestChoiceWrite(t *testing.T) {
	srv := &actionServer{def: definition(), answer: func(w http.ResponseWriter, action string, body map[string]any) {
		switch action {
		case "InsertOptionValue":
			v := body["Value"]
			if v == nil {
				v = 100000005
			}
			writeJSON(w, http.StatusOK, map[string]any{"@odata.context": "$metadata#Microsoft.Dynamics.CRM.InsertOptionValueResponse", "NewOptionValue": v})
		case "UpdateOptionValue", "DeleteOptionValue":
			if body["Value"] == json.Number("404") || body["Value"] == float64(404) {
				writeJSON(w, http.StatusNotFound, map[string]any{"error": map[string]any{"code": "0x80040217", "message": "no option"}})
				return
			}
			w.WriteHeader(http.StatusNoContent)
		}
	}}
	// batch_size is ignored: actions are never batched.
	c, _ := newTestClient(t, srv, func(cfg *connectors.Config) { settingsIn(cfg).BatchSize = 10; cfg.MaxConcurrency = 1 })
	ops := []connectors.WriteOp{
		{Op: connectors.OpCreate, Fields: connectors.Record{"value": json.Number("100000000"), "label": "COD", "description": "Cash on delivery"}},
		{Op: connectors.OpCreate, Fields: connectors.Record{"label": "CM"}},
		{Op: connectors.OpUpdate, Key: "1", ETag: "*", Fields: connectors.Record{"label": "NET 30"}},
		{Op: connectors.OpUpdate, Key: "1", Fields: connectors.Record{"value": json.Number("1")}},
		{Op: connectors.OpDelete, Key: "3"},
		{Op: connectors.OpUpdate, Key: "404", Fields: connectors.Record{"label": "X"}},
		{Op: connectors.OpUpdate, Key: "1", Fields: connectors.Record{"value": json.Number("2")}},
		{Op: connectors.OpCreate, Fields: connectors.Record{"value": json.Number("5")}},
		{Op: connectors.OpCreate, Fields: connectors.Record{"label": "X", "color": "red"}},
		{Op: connectors.OpCreate, Fields: connectors.Record{"value": "x", "label": "X"}},
		{Op: connectors.OpCreate, Fields: connectors.Record{"value": json.Number("3000000000"), "label": "X"}},
	}
	res, err := c.Write(t.Context(), paymentTerms, ops)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []struct{ key, err string }{
		{key: "100000000"}, {key: "100000005"}, {key: "1"}, {key: "1"}, {key: "3"},
		{err: "404"}, {err: "cannot change"}, {err: "needs a label"}, {err: "value, label, description only"},
		{err: "whole number"}, {err: "Edm.Int32 range"},
	} {
		r := res[i]
		switch {
		case want.err == "" && (r.Err != nil || r.Key != want.key):
			t.Errorf("op %d: key %q, err %v; want key %q", i, r.Key, r.Err, want.key)
		case want.err != "" && (r.Err == nil || !strings.Contains(r.Err.Error(), want.err)):
			t.Errorf("op %d: err %v, want one saying %q", i, r.Err, want.err)
		}
	}
	if !errors.Is(res[5].Err, connectors.ErrNotFound) {
		t.Errorf("a 404 from UpdateOptionValue is %v, want ErrNotFound", res[5].Err)
	}
	want := []string{
		`POST /svc/InsertOptionValue {"AttributeLogicalName":"paymenttermscode","Description":{"LocalizedLabels":[{"Label":"Cash on delivery","LanguageCode":1033}]},"EntityLogicalName":"account","Label":{"LocalizedLabels":[{"Label":"COD","LanguageCode":1033}]},"Value":100000000}`,
		`POST /svc/InsertOptionValue {"AttributeLogicalName":"paymenttermscode","EntityLogicalName":"account","Label":{"LocalizedLabels":[{"Label":"CM","LanguageCode":1033}]}}`,
		`POST /svc/UpdateOptionValue {"AttributeLogicalName":"paymenttermscode","EntityLogicalName":"account","Label":{"LocalizedLabels":[{"Label":"NET 30","LanguageCode":1033}]},"MergeLabels":true,"Value":1}`,
		// op 3 changes nothing: no request
		`POST /svc/DeleteOptionValue {"AttributeLogicalName":"paymenttermscode","EntityLogicalName":"account","Value":3}`,
		`POST /svc/UpdateOptionValue {"AttributeLogicalName":"paymenttermscode","EntityLogicalName":"account","Label":{"LocalizedLabels":[{"Label":"X","LanguageCode":1033}]},"MergeLabels":true,"Value":404}`,
	}
	if strings.Join(srv.reqs, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(srv.reqs, "\n"), strings.Join(want, "\n"))
	}
}

// TestChoiceWriteAnswers: answers that are not what the actions document
// fail the record, not the call.
func TestChoiceWriteAnswers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
		want   string
	}{
		{"refused", 400, `{"error":{"code":"0x80044153","message":"An option with the value 1 already exists"}}`, "already exists"},
		{"no NewOptionValue", 200, `{"@odata.context":"x"}`, "names no NewOptionValue"},
		{"not JSON", 200, `<html>`, "names no NewOptionValue"},
		{"server error", 500, `{"error":{"code":"0x80040216","message":"boom"}}`, "boom"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}), func(cfg *connectors.Config) { cfg.MaxRetries = 0 })
			res, err := c.Write(t.Context(), paymentTerms, []connectors.WriteOp{{Op: connectors.OpCreate, Fields: connectors.Record{"value": 1, "label": "X"}}})
			if err != nil {
				t.Fatalf("the call failed (%v); want the record to", err)
			}
			if res[0].Err == nil || !strings.Contains(res[0].Err.Error(), tc.want) || !strings.Contains(res[0].Err.Error(), "choices(account.paymenttermscode)") {
				t.Errorf("err = %v, want one naming the entity and %q", res[0].Err, tc.want)
			}
		})
	}
}

func TestDecodeChoices(t *testing.T) {
	opt := func(v, label, desc string) string {
		return `{"Value":` + v + `,"Label":{"LocalizedLabels":[` + label + `],"UserLocalizedLabel":null},"Description":{"LocalizedLabels":[` + desc + `]}}`
	}
	en := func(s string) string { return `{"Label":"` + s + `","LanguageCode":1033}` }
	de := func(s string) string { return `{"Label":"` + s + `","LanguageCode":1031}` }
	for _, tc := range []struct {
		name, body, want, err string
	}{
		{"local", `{"LogicalName":"x","OptionSet":{"Options":[` + opt("1", en("Net 30"), en("Thirty days")) + `]}}`,
			`[map[description:Thirty days label:Net 30 value:1]]`, ""},
		{"other languages ignored", `{"OptionSet":{"Options":[` + opt("2", de("Netto 30")+","+en("Net 30"), "") + `]}}`,
			`[map[description:<nil> label:Net 30 value:2]]`, ""},
		{"user label when 1033 is missing", `{"OptionSet":{"Options":[{"Value":3,"Label":{"LocalizedLabels":[],"UserLocalizedLabel":{"Label":"Drei","LanguageCode":1031}}}]}}`,
			`[map[description:<nil> label:Drei value:3]]`, ""},
		{"no label", `{"OptionSet":{"Options":[{"Value":4}]}}`, `[map[description:<nil> label:<nil> value:4]]`, ""},
		{"global", `{"OptionSet":null,"GlobalOptionSet":{"Options":[` + opt("5", en("A"), "") + `]}}`,
			`[map[description:<nil> label:A value:5]]`, ""},
		{"empty", `{"OptionSet":{"Options":[]}}`, `[]`, ""},
		{"not a choice column", `{"LogicalName":"name"}`, "", "no OptionSet.Options"},
		{"no value", `{"OptionSet":{"Options":[{"Label":null}]}}`, "", "option 0 has no Value"},
		{"value not Int32", `{"OptionSet":{"Options":[{"Value":1.5}]}}`, "", "not an Edm.Int32"},
		{"value twice", `{"OptionSet":{"Options":[{"Value":1},{"Value":1}]}}`, "", "appears twice"},
		{"truncated", `{"OptionSet":{"Options":[`, "", "at byte"},
		{"trailing data", `{"OptionSet":{"Options":[]}} {}`, "", "after the definition"},
		{"wrong shape", `{"OptionSet":{"Options":{}}}`, "", "at byte"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeChoices([]byte(tc.body), ChoiceLanguage)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || fmt.Sprint(got) != tc.want {
				t.Errorf("= %v, %v; want %s", got, err, tc.want)
			}
		})
	}
}

func TestCheckChoiceEntity(t *testing.T) {
	for _, tc := range []struct {
		entity, key, modified string
		fields                bool
		err                   string
	}{
		{"accounts", "accountid", "modifiedon", false, ""},
		{"choices(account.paymenttermscode)", "value", "", true, ""},
		{"choices(account.paymenttermscode)", "label", "", true, "key must be value"},
		{"choices(account.paymenttermscode)", "value", "modifiedon", true, "no modified field"},
		{"choices(account)", "value", "", false, "choices(table.column)"},
		{"choices(account.x y)", "value", "", false, "choices(table.column)"},
		{"choices(account.paymenttermscode", "value", "", false, "choices(table.column)"},
	} {
		fields, err := CheckChoiceEntity(tc.entity, tc.key, tc.modified)
		if (fields != nil) != tc.fields || (tc.err == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("CheckChoiceEntity(%q, %q, %q) = %v, %v; want fields %v, error %q", tc.entity, tc.key, tc.modified, fields, err, tc.fields, tc.err)
		}
	}
}

// TestChoicesAgainstFakeCRM: the connector against the fake CRM, which
// refuses writes to stringmaps and answers the option set actions.
func TestChoicesAgainstFakeCRM(t *testing.T) {
	crm := fake.NewCRM()
	srv := httptest.NewServer(http.StripPrefix("/api/data/v9.2", crm))
	t.Cleanup(srv.Close)
	c, err := New(connectors.Config{Name: "dataverse", Type: "odata", BaseURL: srv.URL + "/api/data/v9.2"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Write(t.Context(), paymentTerms, []connectors.WriteOp{
		{Op: connectors.OpCreate, Fields: connectors.Record{"value": json.Number("100000000"), "label": "COD"}},
		{Op: connectors.OpCreate, Fields: connectors.Record{"value": json.Number("1"), "label": "Twice"}},
		{Op: connectors.OpUpdate, Key: "1", Fields: connectors.Record{"label": "NET 30"}},
		{Op: connectors.OpDelete, Key: "2"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err != nil || res[0].Key != "100000000" || res[2].Err != nil || res[3].Err != nil {
		t.Errorf("results: %+v", res)
	}
	if res[1].Err == nil || !strings.Contains(res[1].Err.Error(), "already exists") {
		t.Errorf("a duplicate value: %v, want refused", res[1].Err)
	}
	want := map[int]string{1: "NET 30", 3: "Net 45", 4: "Net 60", 100000000: "COD"}
	if got := crm.Options("account", "paymenttermscode"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("options = %v, want %v", got, want)
	}
	var read []connectors.Record
	if err := c.Read(t.Context(), connectors.Query{Entity: paymentTerms}, func(p connectors.Page) error {
		read = append(read, p.Records...)
		return nil
	}); err != nil || len(read) != 4 {
		t.Errorf("read %v, %v; want the 4 options", read, err)
	}
	es, err := c.DescribeEntity(t.Context(), paymentTerms.Name)
	if err != nil || es == nil || es.Field("label") == nil || es.Field("value").Type != "Edm.Int32" {
		t.Errorf("DescribeEntity = %+v, %v", es, err)
	}
	if es, err := c.DescribeEntity(t.Context(), "accounts"); es != nil || err != nil {
		t.Errorf("DescribeEntity(accounts) = %+v, %v; want nil, nil: $metadata describes sets", es, err)
	}
	if _, err := c.DescribeEntity(t.Context(), "choices(account.name)"); err == nil || !strings.Contains(err.Error(), "not a choice column") {
		t.Errorf("DescribeEntity of a column that is no choice: %v", err)
	}
	wrong := connectors.Entity{Name: "choices(account.name)", Key: "value"}
	if err := c.Read(t.Context(), connectors.Query{Entity: wrong}, func(connectors.Page) error { return nil }); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("read of a column that is no choice: %v, want the 404", err)
	}
}

// TestChoiceMatchCandidates: an incremental plan looks up the options a
// match may couple by a field (the label), with case ignored or not. The
// options are read from the column's definition and compared here: an
// option entity has no entity set to filter.
//
// Before the fix GetFolded sent tolower(label) to choices(…), a path the
// service does not have (the fake answered 400, which also turned case
// folding off for the whole connector), and Get compared the values, not
// the labels.
func TestChoiceMatchCandidates(t *testing.T) {
	crm := fake.NewCRM()
	srv := httptest.NewServer(http.StripPrefix("/api/data/v9.2", crm))
	t.Cleanup(srv.Close)
	c, err := New(connectors.Config{Name: "dataverse", Type: "odata", BaseURL: srv.URL + "/api/data/v9.2"})
	if err != nil {
		t.Fatal(err)
	}
	labels := func(recs []connectors.Record) []string {
		var out []string
		for _, r := range recs {
			out = append(out, fmt.Sprint(r["label"]))
		}
		return out
	}
	folded, err := c.GetFolded(t.Context(), paymentTerms, "label", nil, []string{"NET 45", "net 60", "none"})
	if err != nil || fmt.Sprint(labels(folded)) != "[Net 45 Net 60]" {
		t.Errorf("GetFolded = %v, %v; want Net 45 and Net 60", labels(folded), err)
	}
	byLabel := paymentTerms
	byLabel.Key = "label"
	exact, err := c.Get(t.Context(), byLabel, nil, []string{"Net 45", "net 60"})
	if err != nil || fmt.Sprint(labels(exact)) != "[Net 45]" {
		t.Errorf("Get by label = %v, %v; want Net 45 only", labels(exact), err)
	}
	// Case folding still works for the connector's entity sets.
	if _, err := c.GetFolded(t.Context(), connectors.Entity{Name: "accounts", Key: "accountid"}, "name", nil, []string{"x"}); !errors.Is(err, connectors.ErrUnsupported) {
		t.Errorf("GetFolded on accounts: %v; want ErrUnsupported from Dataverse's refusal of tolower", err)
	}
}
