package engine

import (
	"slices"
	"testing"
)

func TestPushDown(t *testing.T) {
	tests := []struct {
		src    string
		pushed string
		local  []string
	}{
		{`blocked == " "`, `blocked eq ' '`, nil},
		{`statecode == 0 && customertypecode == 3`, `(statecode eq 0) and (customertypecode eq 3)`, nil},
		{`name == "O'Neil"`, `name eq 'O''Neil'`, nil},
		{`5 < creditLimit`, `creditLimit gt 5`, nil},
		{`creditLimit >= -2.5`, `creditLimit ge -2.5`, nil},
		{`country in ["US", "CA"]`, `(country eq 'US' or country eq 'CA')`, nil},
		{`name startsWith "A" || name endsWith "z"`, `(startswith(name,'A')) or (endswith(name,'z'))`, nil},
		{`!(isdisabled)`, ``, []string{`!isdisabled`}},
		{`parentcustomerid != nil`, ``, []string{`parentcustomerid != nil`}},
		{`name != "ABC"`, ``, []string{`name != "ABC"`}},
		{`name > "M"`, ``, []string{`name > "M"`}},
		{`modifiedon > date("2024-01-01T00:00:00Z")`, `modifiedon gt 2024-01-01T00:00:00Z`, nil},
		{`type == "Person" && trim(name) != ""`, `type eq 'Person'`, []string{`trim(name) != ""`}},
		{`len(name) > 3`, ``, []string{`len(name) > 3`}},
		{`a == b`, ``, []string{`a == b`}},
		{`a == 1 || len(b) > 2`, ``, []string{`a == 1 || len(b) > 2`}},
	}
	for _, tt := range tests {
		pushed, local := pushDown(tt.src)
		if pushed != tt.pushed {
			t.Errorf("pushDown(%s): pushed %q, want %q", tt.src, pushed, tt.pushed)
		}
		if !slices.Equal(local, tt.local) {
			t.Errorf("pushDown(%s): local %q, want %q", tt.src, local, tt.local)
		}
	}
}
