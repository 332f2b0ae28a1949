package fake

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// NumberSeries numbers new records the way Business Central's number
// series do. The Customer table's OnInsert trigger tests whether "No."
// holds a value and, if not, takes the next number of the series set up in
// Sales & Receivables Setup ("Customer Nos.": "the number series that will
// be used to assign numbers to customers"); Vendor does the same with
// Purchases & Payables Setup ("Implement the number series pattern",
// Microsoft Learn, Work with master data in Business Central). Through the
// API the same trigger runs: "Create customers" (API v2.0) posts a customer
// without a number and answers 201 with the customers object, numbered.
// A record that brings its own number keeps it, and the series goes on
// after the highest number of its pattern any record has held, so that it
// never hands out one in use.
type NumberSeries struct {
	// Field is the number field, e.g. "number".
	Field string
	// Prefix and Digits shape a number: "C" and 5 give "C00010".
	Prefix string
	Digits int
	// Step is the series' increment (Increment-by No.), e.g. 10.
	Step int
}

// format renders the n-th number of the series.
func (ns *NumberSeries) format(n uint64) string {
	return fmt.Sprintf("%s%0*d", ns.Prefix, ns.Digits, n)
}

// parse returns the digits of a number of the series, and whether lit (a
// JSON literal) is one.
func (ns *NumberSeries) parse(lit string) (uint64, bool) {
	s, err := strconv.Unquote(lit)
	if err != nil {
		return 0, false
	}
	digits, ok := strings.CutPrefix(s, ns.Prefix)
	if !ok || digits == "" {
		return 0, false
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	return n, err == nil
}

// number numbers a create whose number is blank (absent, null or "": a
// Code field holds no null) with the series' next one, and notes the number
// any write sets, so that the series passes it. It returns the assigns to
// store; as is not changed. Called with the write lock held.
func (t *table) number(kind writeKind, as []assign) []assign {
	ns := t.def.Numbers
	lit := ""
	for _, a := range as {
		if a.name == ns.Field {
			lit = a.lit
		}
	}
	if kind == kindCreate && (lit == "" || lit == "null" || lit == `""`) {
		next := t.lastNo + uint64(ns.Step)
		lit = string(appendQuote(nil, ns.format(next)))
		out := make([]assign, 0, len(as)+1)
		for _, a := range as {
			if a.name != ns.Field {
				out = append(out, a)
			}
		}
		as = append(out, assign{name: ns.Field, lit: lit})
	}
	if n, ok := ns.parse(lit); ok && n > t.lastNo {
		t.lastNo = n
	}
	return as
}

// numberOf returns the literal of e's number ("" when it has none).
func (t *table) numberOf(e *entry) string {
	if e == nil {
		return ""
	}
	return e.literal(t.cols.lookup(t.def.Numbers.Field))
}

// blankNumber reports whether a number literal holds no number.
func blankNumber(lit string) bool {
	return lit == "" || lit == "null" || lit == `""`
}

// numberTaken refuses a write that would give the record at key a number
// another record holds. A customer's or vendor's number is its table's
// primary key ("No."), and Business Central refuses to insert a record
// whose key is in use: "If customer 1120 already exists, then a run-time
// error occurs" (Microsoft Learn, Record.Insert() Method); renaming one to
// a key in use fails the same way. Through the API an AL run-time error is
// answered 400 with an error code of the Internal_ category, "a data
// integrity issue" (Microsoft Learn, Business Central API, Error codes).
// as holds the write's assignments, already numbered (number).
func (t *table) numberTaken(key string, as []assign) error {
	for _, a := range as {
		if a.name != t.def.Numbers.Field || blankNumber(a.lit) {
			continue
		}
		if other, ok := t.numbers[a.lit]; ok && other != key {
			return errorf(http.StatusBadRequest, "Internal_EntityWithSameKeyExists",
				"The record in table %s already exists. Identification fields and values: %s=%s", t.def.Name, a.name, a.lit)
		}
	}
	return nil
}

// renumber notes in numbers that the record at key went from old to e
// (either nil: created or removed).
func (t *table) renumber(key string, old, e *entry) {
	if t.def.Numbers == nil {
		return
	}
	if lit := t.numberOf(old); !blankNumber(lit) && t.numbers[lit] == key {
		delete(t.numbers, lit)
	}
	if lit := t.numberOf(e); !blankNumber(lit) {
		t.numbers[lit] = key
	}
}

// indexNumbers builds numbers from the rows, after they were replaced
// whole (a change set rolled back, a clone).
func (t *table) indexNumbers() {
	if t.def.Numbers == nil {
		return
	}
	t.numbers = make(map[string]string, len(t.rows))
	for key, e := range t.rows {
		t.renumber(key, nil, e)
	}
}
