package fake

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

const paymentTermsDef = "/EntityDefinitions(LogicalName='account')/Attributes(LogicalName='paymenttermscode')/Microsoft.Dynamics.CRM.PicklistAttributeMetadata?$select=LogicalName&$expand=OptionSet($select=Options)"

// options reads the options of account.paymenttermscode from the column's
// definition as value -> label (1033).
func readOptions(t *testing.T, c *testClient) map[string]string {
	t.Helper()
	r := c.do(http.MethodGet, paymentTermsDef, "")
	if r.status != http.StatusOK {
		t.Fatalf("GET definition: %d %s", r.status, r.body)
	}
	set, _ := r.json(t)["OptionSet"].(map[string]any)
	opts, _ := set["Options"].([]any)
	out := map[string]string{}
	for _, o := range opts {
		o := o.(map[string]any)
		label := o["Label"].(map[string]any)["UserLocalizedLabel"].(map[string]any)["Label"].(string)
		out[fmt.Sprint(o["Value"])] = label
	}
	return out
}

// stringMapLabels lists the stringmaps rows of account.paymenttermscode
// over HTTP as value -> label.
func stringMapLabels(t *testing.T, c *testClient) map[string]string {
	t.Helper()
	r := c.do(http.MethodGet, "/stringmaps?$filter=objecttypecode%20eq%20'account'%20and%20attributename%20eq%20'paymenttermscode'", "")
	if r.status != http.StatusOK {
		t.Fatalf("GET stringmaps: %d %s", r.status, r.body)
	}
	out := map[string]string{}
	for _, rec := range r.values(t) {
		out[fmt.Sprint(rec["attributevalue"])] = rec["value"].(string)
	}
	return out
}

// TestCRMShipsChoiceOptions: a new CRM has the options Dataverse ships,
// in the column's definition and in stringmaps alike.
func TestCRMShipsChoiceOptions(t *testing.T) {
	c := newClient(t, NewCRM())
	want := map[string]string{"1": "Net 30", "2": "2% 10, Net 30", "3": "Net 45", "4": "Net 60"}
	if got := readOptions(t, c); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("definition options = %v, want %v", got, want)
	}
	if got := stringMapLabels(t, c); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("stringmaps = %v, want %v", got, want)
	}
}

// TestStringMapsReadOnly: stringmaps refuses writes the way Dataverse
// refuses them for a table without the message, in and out of $batch.
func TestStringMapsReadOnly(t *testing.T) {
	s := NewCRM()
	c := newClient(t, s)
	key := s.All(stringMapsSet)[0]["stringmapid"].(string)
	for _, tc := range []struct{ method, target, body, msg string }{
		{http.MethodPost, "/stringmaps", `{"objecttypecode":"account","attributename":"paymenttermscode","attributevalue":9,"value":"X","langid":1033}`, "'Create' method"},
		{http.MethodPatch, "/stringmaps(" + key + ")", `{"value":"X"}`, "'Update' method"},
		{http.MethodDelete, "/stringmaps(" + key + ")", "", "'Delete' method"},
	} {
		r := c.do(tc.method, tc.target, tc.body, "If-Match", "*")
		if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), tc.msg) || !strings.Contains(string(r.body), "'stringmap'") {
			t.Errorf("%s %s = %d %s, want 400 naming the %s", tc.method, tc.target, r.status, r.body, tc.msg)
		}
	}
	// Dataverse takes multipart batches only (multipart.go).
	batch := httpPart("b", "", "POST stringmaps HTTP/1.1\nContent-Type: application/json\n\n{\"value\":\"X\"}", "\r\n") + "--b--\r\n"
	if status, _, body := postBatch(t, c, "multipart/mixed; boundary=b", batch); !strings.Contains(string(body), "'Create' method") {
		t.Errorf("a create of a stringmap in a $batch was not refused: %d %s", status, body)
	}
	if got := stringMapLabels(t, c); got["1"] != "Net 30" || len(got) != 4 {
		t.Errorf("stringmaps changed: %v", got)
	}
}

// TestOptionActions: InsertOptionValue, UpdateOptionValue and
// DeleteOptionValue change the column's options, which the definition and
// stringmaps then show.
func TestOptionActions(t *testing.T) {
	c := newClient(t, NewCRM())
	col := `"EntityLogicalName":"account","AttributeLogicalName":"paymenttermscode"`
	lbl := func(s string) string {
		return `{"@odata.type":"Microsoft.Dynamics.CRM.Label","LocalizedLabels":[{"@odata.type":"Microsoft.Dynamics.CRM.LocalizedLabel","Label":"` + s + `","LanguageCode":1033}]}`
	}
	r := c.do(http.MethodPost, "/InsertOptionValue", `{`+col+`,"Value":100000000,"Label":`+lbl("COD")+`,"Description":`+lbl("Cash on delivery")+`}`)
	if r.status != http.StatusOK || fmt.Sprint(r.json(t)["NewOptionValue"]) != "100000000" {
		t.Fatalf("insert with a value: %d %s", r.status, r.body)
	}
	r = c.do(http.MethodPost, "/InsertOptionValue", `{`+col+`,"Label":`+lbl("CM")+`}`)
	if r.status != http.StatusOK || fmt.Sprint(r.json(t)["NewOptionValue"]) != "100000001" {
		t.Fatalf("insert without a value: %d %s, want the next in the publisher's range", r.status, r.body)
	}
	r = c.do(http.MethodPost, "/UpdateOptionValue", `{`+col+`,"Value":1,"Label":`+lbl("NET 30")+`,"MergeLabels":true}`)
	if r.status != http.StatusNoContent {
		t.Fatalf("update: %d %s", r.status, r.body)
	}
	r = c.do(http.MethodPost, "/DeleteOptionValue", `{`+col+`,"Value":2}`)
	if r.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	want := map[string]string{"1": "NET 30", "3": "Net 45", "4": "Net 60", "100000000": "COD", "100000001": "CM"}
	if got := readOptions(t, c); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("definition options = %v, want %v", got, want)
	}
	if got := stringMapLabels(t, c); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("stringmaps = %v, want %v", got, want)
	}
	if !strings.Contains(string(c.do(http.MethodGet, paymentTermsDef, "").body), `"Cash on delivery"`) {
		t.Error("the description of COD is not in the definition")
	}
}

// TestOptionRefusals: the requests Dataverse refuses are refused, and
// change nothing.
func TestOptionRefusals(t *testing.T) {
	c := newClient(t, NewCRM())
	col := `"EntityLogicalName":"account","AttributeLogicalName":"paymenttermscode"`
	lbl := `{"LocalizedLabels":[{"Label":"X","LanguageCode":1033}]}`
	for _, tc := range []struct {
		name, method, target, body string
		status                     int
		msg                        string
	}{
		{"duplicate value", "POST", "/InsertOptionValue", `{` + col + `,"Value":1,"Label":` + lbl + `}`, 400, "already exists"},
		{"no label", "POST", "/InsertOptionValue", `{` + col + `,"Value":7}`, 400, "Label is required"},
		{"label without language", "POST", "/InsertOptionValue", `{` + col + `,"Label":{"LocalizedLabels":[{"Label":"X"}]}}`, 400, "LanguageCode"},
		{"no base language label", "POST", "/InsertOptionValue", `{` + col + `,"Label":{"LocalizedLabels":[{"Label":"X","LanguageCode":1031}]}}`, 400, "1033"},
		{"value not an Int32", "POST", "/InsertOptionValue", `{` + col + `,"Value":"seven","Label":` + lbl + `}`, 400, "malformed"},
		{"unknown parameter", "POST", "/InsertOptionValue", `{` + col + `,"Colour":"#fff","Label":` + lbl + `}`, 400, "'Colour'"},
		{"MergeLabels on insert", "POST", "/InsertOptionValue", `{` + col + `,"MergeLabels":true,"Label":` + lbl + `}`, 400, "not a valid parameter"},
		{"no column", "POST", "/InsertOptionValue", `{"Label":` + lbl + `}`, 400, "EntityLogicalName"},
		{"unknown column", "POST", "/InsertOptionValue", `{"EntityLogicalName":"account","AttributeLogicalName":"name","Label":` + lbl + `}`, 404, "not a choice column"},
		{"not JSON", "POST", "/InsertOptionValue", `Value=1`, 400, "malformed JSON"},
		{"GET an action", "GET", "/InsertOptionValue", "", 405, "allowed: POST"},
		{"update without MergeLabels", "POST", "/UpdateOptionValue", `{` + col + `,"Value":1,"Label":` + lbl + `}`, 400, "MergeLabels"},
		{"update of a missing option", "POST", "/UpdateOptionValue", `{` + col + `,"Value":99,"Label":` + lbl + `,"MergeLabels":true}`, 404, "no option"},
		{"delete of a missing option", "POST", "/DeleteOptionValue", `{` + col + `,"Value":99}`, 404, "no option"},
		{"delete without value", "POST", "/DeleteOptionValue", `{` + col + `}`, 400, "Value is required"},
		{"OptionSet without the cast", "GET", "/EntityDefinitions(LogicalName='account')/Attributes(LogicalName='paymenttermscode')?$expand=OptionSet", "", 400, "AttributeMetadata"},
		{"unknown navigation", "GET", paymentTermsDef + ",Targets", "", 400, "'Targets'"},
		{"unknown attribute", "GET", "/EntityDefinitions(LogicalName='account')/Attributes(LogicalName='nope')/Microsoft.Dynamics.CRM.PicklistAttributeMetadata", "", 404, "not a choice column"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := c.do(tc.method, tc.target, tc.body)
			if r.status != tc.status || !strings.Contains(string(r.body), tc.msg) {
				t.Errorf("%d %s, want %d with %q", r.status, r.body, tc.status, tc.msg)
			}
		})
	}
	want := map[string]string{"1": "Net 30", "2": "2% 10, Net 30", "3": "Net 45", "4": "Net 60"}
	if got := readOptions(t, c); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("options changed by refused requests: %v", got)
	}
}
