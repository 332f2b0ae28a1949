package fake

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestCustomerIsDeterministic(t *testing.T) {
	for _, i := range []int{0, 1, 99, 31999, 32000, 99999} {
		if a, b := Customer(i), Customer(i); !reflect.DeepEqual(a, b) {
			t.Errorf("Customer(%d) differs between calls:\n%v\n%v", i, a, b)
		}
	}
	c := Customer(0)
	if c["number"] != "C00010" || c["id"] != CustomerID(0) || c["type"] != "Company" || c["blocked"] != " " || c["currencyCode"] != "" {
		t.Errorf("Customer(0) = %v", c)
	}
	if _, ok := c["creditLimit"].(json.Number); !ok {
		t.Errorf("creditLimit is %T, want json.Number", c["creditLimit"])
	}
	for _, f := range customerFields {
		if _, ok := c[f]; !ok && f != "lastModifiedDateTime" {
			t.Errorf("Customer lacks %s", f)
		}
	}
}

func TestCustomersAreUniqueAndVaried(t *testing.T) {
	n := 100_000
	if testing.Short() {
		n = 5000
	}
	ids, numbers, names := map[any]bool{}, map[any]bool{}, map[any]bool{}
	cities, countries, limits := map[any]bool{}, map[any]bool{}, map[any]bool{}
	for i := range n {
		c := Customer(i)
		ids[c["id"]], numbers[c["number"]], names[c["displayName"]] = true, true, true
		cities[c["city"]], countries[c["country"]], limits[c["creditLimit"]] = true, true, true
		if !isGUID(c["id"].(string)) || strings.ToLower(c["id"].(string)) != c["id"] {
			t.Fatalf("Customer(%d) id %v", i, c["id"])
		}
	}
	if len(ids) != n || len(numbers) != n || len(names) != n {
		t.Errorf("unique ids %d, numbers %d, names %d of %d", len(ids), len(numbers), len(names), n)
	}
	if len(cities) < 20 || len(countries) < 5 || len(limits) < 5 {
		t.Errorf("too little variety: %d cities, %d countries, %d credit limits", len(cities), len(countries), len(limits))
	}
}

func TestSeedCustomers(t *testing.T) {
	s := NewERP()
	if err := SeedCustomers(s, 50); err != nil {
		t.Fatal(err)
	}
	if s.Len("customers") != 50 {
		t.Fatalf("Len = %d", s.Len("customers"))
	}
	want := Customer(7)
	got, ok := s.Get("customers", want["id"].(string))
	if !ok {
		t.Fatal("Customer(7) not stored")
	}
	delete(got, "lastModifiedDateTime")
	if !reflect.DeepEqual(got, want) {
		t.Errorf("stored %v, want %v", got, want)
	}
	if err := SeedCustomers(NewCRM(), 1); err == nil {
		t.Error("seeding a server without customers succeeded")
	}
}
