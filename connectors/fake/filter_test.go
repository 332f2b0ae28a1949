package fake

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/couplerhq/coupler/connectors"
)

// filterTable returns a table holding one record for filter evaluation.
func filterTable(t testing.TB) (*table, *entry) {
	t.Helper()
	s := New(EntitySet{Name: "accounts", Key: "accountid", Modified: "modifiedon", ModifiedPrecision: time.Second})
	s.SetClock(func() time.Time { return time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC) })
	key, err := s.Put("accounts", connectors.Record{
		"accountid":      "6F9619FF-8B86-D011-B42D-00C04FC964FF",
		"name":           "Contoso Trading",
		"accountnumber":  "C00010",
		"creditlimit":    json.Number("5000"),
		"balance":        json.Number("12.50"),
		"statecode":      json.Number("0"),
		"active":         true,
		"padded":         "  Fabrikam  ",
		"quote":          "O'Brien",
		"empty":          nil,
		"created":        "2023-12-31T23:59:59Z",
		"address":        map[string]any{"city": "Seattle"},
		"_ownerid_value": "00000000-0000-0000-0000-0000000000aa",
	})
	if err != nil {
		t.Fatal(err)
	}
	tb := s.tables["accounts"]
	return tb, tb.rows[key]
}

func TestFilterEval(t *testing.T) {
	tb, e := filterTable(t)
	tests := []struct {
		filter string
		want   bool
	}{
		{"name eq 'Contoso Trading'", true},
		{"name eq 'contoso trading'", false},
		{"name ne 'Contoso Trading'", false},
		{"name ne 'x'", true},
		{"name gt 'Contoso'", true},
		{"name ge 'Contoso Trading'", true},
		{"name lt 'D'", true},
		{"name le 'Contoso Trading'", true},
		{"creditlimit eq 5000", true},
		{"creditlimit eq 5000.00", true},
		{"creditlimit gt 4999.99", true},
		{"creditlimit lt 5000", false},
		{"creditlimit ge -1", true},
		{"creditlimit le 5e3", true},
		{"balance eq 12.5", true},
		{"creditlimit eq '5000'", false}, // a number is not a string
		{"creditlimit ne '5000'", true},
		{"active eq true", true},
		{"active", true},
		{"not active", false},
		{"active eq false", false},
		{"empty eq null", true},
		{"missing eq null", true},
		{"name eq null", false},
		{"name ne null", true},
		{"missing ne null", false},
		{"missing gt 1", false},
		{"missing lt 1", false},
		{"missing eq 'x'", false},
		{"missing ne 'x'", true},
		{"modifiedon gt 2024-05-01T09:59:59Z", true},
		{"modifiedon gt 2024-05-01T10:00:00Z", false},
		{"modifiedon ge 2024-05-01T10:00:00Z", true},
		{"modifiedon ge 2024-05-01T10:00:00.000Z", true},
		{"modifiedon lt 2024-05-01T10:00:00.001Z", true},
		{"modifiedon eq 2024-05-01T12:00:00+02:00", true},
		{"modifiedon gt 2024-05-01", true},
		{"created lt 2024-01-01T00:00:00Z", true}, // a string field compares as time
		{"created gt 2023-12-31T23:59:58.5Z", true},
		{"accountid eq 6f9619ff-8b86-d011-b42d-00c04fc964ff", true},
		{"accountid eq 6F9619FF-8B86-D011-B42D-00C04FC964FF", true},
		{"accountid eq '6f9619ff-8b86-d011-b42d-00c04fc964ff'", true},
		{"_ownerid_value eq 00000000-0000-0000-0000-0000000000AA", true},
		{"quote eq 'O''Brien'", true},
		{"startswith(name,'Con')", true},
		{"startswith(name, 'Fab')", false},
		{"endswith(name,'Trading')", true},
		{"contains(name,'so Tr')", true},
		{"contains(missing,'x')", false},
		{"not contains(missing,'x')", false}, // null stays unknown under not
		{"tolower(name) eq 'contoso trading'", true},
		{"toupper(name) eq 'CONTOSO TRADING'", true},
		{"trim(padded) eq 'Fabrikam'", true},
		{"contains(tolower(name),'contoso')", true},
		{"startswith(name,'Con') eq true", true},
		{"name in ('a','Contoso Trading')", true},
		{"name in ('a','b')", false},
		{"creditlimit in (1, 5000)", true},
		{"accountid in (6f9619ff-8b86-d011-b42d-00c04fc964ff)", true},
		{"statecode eq 0 and creditlimit gt 1000", true},
		{"statecode eq 1 and creditlimit gt 1000", false},
		{"statecode eq 1 or creditlimit gt 1000", true},
		{"statecode eq 1 or creditlimit gt 9000", false},
		{"not (statecode eq 1)", true},
		{"not statecode eq 1", false}, // not binds tighter: (not statecode) eq 1
		{"(statecode eq 1 or statecode eq 0) and (name eq 'Contoso Trading')", true},
		{"statecode eq 0 or missing gt 1", true},
		{"missing gt 1 or statecode eq 0", true},
		{"missing gt 1 and statecode eq 0", false},
		{"true", true},
		{"false or true", true},
		{"address eq null", false},
		{"address ne null", true},
		{" \tname eq 'Contoso Trading' ", true},
	}
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			x, err := parseFilter(tt.filter, tb.resolver())
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if got := matches(x, e); got != tt.want {
				t.Errorf("matches = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestFilterErrors(t *testing.T) {
	tb, _ := filterTable(t)
	tests := []struct {
		filter string
		pos    int
		msg    string
	}{
		{"", 0, "expected an operand"},
		{"name eq", 7, "expected an operand"},
		{"name eq 'abc", 8, "unterminated string"},
		{"name+eq+'x'", 4, "'+'"},
		{"name eq 'x' and", 15, "expected an operand"},
		{"(name eq 'x'", 12, "expected ')'"},
		{"name eq 'x')", 11, "expected an operator"},
		{"name foo 'x'", 5, "expected an operator"},
		{"'x'", 0, "expected a condition"},
		{"name eq 'x' and 5", 16, "expected a condition"},
		{"name", -1, ""}, // a bare field may be a boolean: accepted
		{"frobnicate(name)", 0, "unknown function 'frobnicate'"},
		{"startswith(name)", 0, "takes 2 argument(s), not 1"},
		{"tolower(5) eq 'x'", 8, "expects string arguments"},
		{"name in 'x'", 8, "expected '(' after in"},
		{"name in ('x', name)", 14, "expected a literal"},
		{"name eq 1.", 10, "digit after the decimal point"},
		{"name eq 12abc", 10, "after number"},
		{"modifiedon gt 2024-13-01T00:00:00Z", 14, "invalid datetime"},
		{"name eq #", 8, "unexpected character"},
		{"and eq 1", 0, "expected an operand but found 'and'"},
		{strings.Repeat("(", 101) + "true" + strings.Repeat(")", 101), 100, "nested more than 100"},
	}
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			_, err := parseFilter(tt.filter, tb.resolver())
			if tt.pos < 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			fe, ok := err.(*filterError)
			if !ok {
				t.Fatalf("error = %v (%T), want *filterError", err, err)
			}
			if fe.pos != tt.pos || !strings.Contains(fe.msg, tt.msg) {
				t.Errorf("error = %q at %d, want %q at %d", fe.msg, fe.pos, tt.msg, tt.pos)
			}
		})
	}
}

func TestKeyCandidates(t *testing.T) {
	tb, _ := filterTable(t)
	const g1, g2 = "6f9619ff-8b86-d011-b42d-00c04fc964ff", "00000000-0000-0000-0000-000000000001"
	tests := []struct {
		filter string
		want   []string // nil: scan
	}{
		{"accountid eq " + g1, []string{g1}},
		{"accountid eq '" + strings.ToUpper(g1) + "'", []string{g1}},
		{g1 + " eq accountid", []string{g1}},
		{"accountid in (" + g1 + "," + g2 + ")", []string{g1, g2}},
		{"accountid eq " + g1 + " or accountid eq " + g2, []string{g1, g2}},
		{"accountid eq " + g1 + " and name eq 'x'", []string{g1}},
		{"name eq 'x' and accountid eq " + g1, []string{g1}},
		{"accountid eq 5", []string{}},
		{"accountid eq " + g1 + " or name eq 'x'", nil},
		{"accountid ne " + g1, nil},
		{"name eq 'x'", nil},
	}
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			x, err := parseFilter(tt.filter, tb.resolver())
			if err != nil {
				t.Fatal(err)
			}
			got, ok := keyCandidates(x, tb.keyCol)
			if ok != (tt.want != nil) || strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("keyCandidates = %q, %v; want %q", got, ok, tt.want)
			}
		})
	}
}

// FuzzFilter checks that no $filter, however malformed, panics or hangs the
// parser or the evaluator, and that errors point inside the input.
func FuzzFilter(f *testing.F) {
	for _, seed := range []string{
		"name eq 'Contoso'",
		"modifiedon gt 2024-01-01T00:00:00Z and statecode eq 0",
		"modifiedon ge 2024-01-01T00:00:00.123+02:00",
		"accountid in (6f9619ff-8b86-d011-b42d-00c04fc964ff, 'x', 1, 2.5, null, true)",
		"not (contains(tolower(name),'o''b') or startswith(trim(name),'A')) and endswith(name,'z')",
		"creditlimit ge -1.5e3 or creditlimit le 10",
		"((((a eq 1))))",
		"toupper(x) ne null",
		"a eq 'unterminated",
		"2024-01-01 lt modifiedon",
		"name+eq+'x'",
		"(",
		"in in in",
	} {
		f.Add(seed)
	}
	tb, e := filterTable(f)
	f.Fuzz(func(t *testing.T, src string) {
		x, err := parseFilter(src, tb.resolver())
		if err != nil {
			fe, ok := err.(*filterError)
			if !ok {
				t.Fatalf("error %v is %T, want *filterError", err, err)
			}
			if fe.pos < 0 || fe.pos > len(src) {
				t.Fatalf("error position %d outside input of length %d", fe.pos, len(src))
			}
			return
		}
		matches(x, e)
		keyCandidates(x, tb.keyCol)
	})
}
