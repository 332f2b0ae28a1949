package fake

import (
	"errors"
	"testing"

	"github.com/couplerhq/coupler/connectors"
)

// TestBindByAlternateKeyStoresPrimaryKey: Dataverse stores a lookup bound
// by an alternate key as the target's primary key, and reads it back so in
// _x_value; the engine's settling must be tested against that.
func TestBindByAlternateKeyStoresPrimaryKey(t *testing.T) {
	s := NewCRM()
	if err := s.SetAlternateKeys("accounts", []string{"accountnumber"}); err != nil {
		t.Fatal(err)
	}
	acc, err := s.Put("accounts", connectors.Record{"name": "Acme", "accountnumber": "A-1"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, ref, want string
		wantErr         error
	}{
		{"alternate key", "/accounts(accountnumber='A-1')", acc, nil},
		{"primary key, named", "/accounts(accountid=" + acc + ")", acc, nil},
		{"primary key", "/accounts(" + acc + ")", acc, nil},
		{"alternate key of no record", "/accounts(accountnumber='A-2')", "", connectors.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, err := s.Put("contacts", connectors.Record{"lastname": "Smith", "parentcustomerid_account@odata.bind": tt.ref})
			if tt.wantErr != nil {
				if err == nil || !errors.Is(err, tt.wantErr) {
					t.Fatalf("put with %s: err = %v, want %v", tt.ref, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, _ := s.Get("contacts", key)
			if got["_parentcustomerid_value"] != tt.want {
				t.Errorf("bound by %s: _parentcustomerid_value = %v, want %s", tt.ref, got["_parentcustomerid_value"], tt.want)
			}
		})
	}
}
