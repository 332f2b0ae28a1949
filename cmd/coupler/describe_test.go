package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/mappings"
)

// plainConnector is a Connector that cannot describe itself.
type plainConnector struct{ connectors.Connector }

type describingConnector struct{ plainConnector }

func (describingConnector) Describe(context.Context) (*connectors.Schema, error) {
	return &connectors.Schema{}, nil
}

func TestAsDescriber(t *testing.T) {
	c := &mappings.Connector{Config: connectors.Config{Name: "legacy", Type: "rest"}}
	if _, err := asDescriber(plainConnector{}, c); err == nil || err.Error() != "connector legacy (type rest) cannot describe itself" {
		t.Errorf("error %v", err)
	}
	if d, err := asDescriber(describingConnector{}, c); err != nil || d == nil {
		t.Errorf("%v, %v", d, err)
	}
}

func TestDidYouMean(t *testing.T) {
	s := &connectors.Schema{Entities: []connectors.EntitySchema{{Name: "accounts"}, {Name: "contacts"}, {Name: "salesOrders"}}}
	tests := []struct{ name, want string }{
		{"acounts", ` (did you mean "accounts"?)`},
		{"Accounts", ` (did you mean "accounts"?)`},
		{"salesorders", ` (did you mean "salesOrders"?)`},
		{"contact", ` (did you mean "contacts"?)`},
		{"invoices", ""},
		{"x", ""},
	}
	for _, tt := range tests {
		if got := didYouMean(tt.name, s); got != tt.want {
			t.Errorf("didYouMean(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestPrintEntity(t *testing.T) {
	e := &connectors.EntitySchema{
		Name: "accounts", Type: "NS.account", Key: []string{"accountid"},
		Fields: []connectors.FieldSchema{
			{Name: "accountid", Type: "Edm.Guid"},
			{Name: "_ownerid_value", Type: "Edm.Guid", Nullable: true},
		},
		Lookups:     map[string]string{"ownerid": "systemusers", "createdby": "", "customerid_account": "accounts", "customerid_contact": "contacts"},
		Polymorphic: map[string]map[string]string{"customerid": {"accounts": "customerid_account", "contacts": "customerid_contact"}},
	}
	var b bytes.Buffer
	if err := printEntity(&b, e); err != nil {
		t.Fatal(err)
	}
	want := `accounts (NS.account), key accountid

FIELD           TYPE      NULLABLE
accountid       Edm.Guid  no
_ownerid_value  Edm.Guid  yes

LOOKUP              TARGET
createdby           -
customerid_account  accounts
customerid_contact  contacts
ownerid             systemusers

MULTI-TABLE LOOKUP  TARGETS
customerid          accounts (customerid_account), contacts (customerid_contact)
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
	for _, line := range strings.Split(b.String(), "\n") {
		if strings.TrimRight(line, " ") != line {
			t.Errorf("trailing space in %q", line)
		}
	}
}
