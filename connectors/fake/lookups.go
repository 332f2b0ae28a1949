package fake

import (
	"encoding/json"
	"net/http"
	"strings"
)

// Lookups as the Dataverse Web API takes and gives them:
//
//   - written by binding a single-valued navigation property to the target
//     record, "ownerid@odata.bind": "/systemusers(<id>)", null to clear
//     ("Associate table rows on create"; "Associate and disassociate tables
//     on update");
//   - a multi-table lookup (EntitySet.Polymorphic, e.g. the Customer type
//     parentcustomerid of contacts: account or contact) has one navigation
//     property per target table, <lookup>_<table's logical name>, and none
//     of its own: "parentcustomerid_account@odata.bind" binds an account,
//     "parentcustomerid@odata.bind" is refused as an undeclared property
//     ("Multi-table lookups"; "Use single-valued navigation properties");
//   - read as _<lookup>_value, the target's primary key, annotated with
//     the target's logical name, "_parentcustomerid_value@Microsoft.Dynamics.
//     CRM.lookuplogicalname": "account", only when the request asks for it
//     with Prefer: odata.include-annotations="Microsoft.Dynamics.CRM.
//     lookuplogicalname" (or "*", or "Microsoft.Dynamics.CRM.*") ("Web API
//     properties", lookup properties; "Multi-table lookups": Retrieve with
//     Prefer: odata.include-annotations="*").
//
// The annotation is stored beside the lookup as a column whose name holds
// '@', which no client field can have, and rendered only when asked for.

// lookupLogicalName is the annotation naming the table a lookup points to.
const lookupLogicalName = "@Microsoft.Dynamics.CRM.lookuplogicalname"

// isAnnotationLabel reports whether a column label (`"name":`) is that of
// an annotation column.
func isAnnotationLabel(label string) bool {
	return strings.IndexByte(label, '@') >= 0
}

// logicalName is the logical name of set's table, as lookups' annotations
// and the $metadata entity types name it.
func (t *table) logicalName(set string) string {
	if n, ok := t.typeOf[set]; ok {
		return n
	}
	return typeName(set)
}

// bindAssigns turns a binding of the navigation property nav, whose value
// is raw, into the assignments it makes: the lookup property _x_value
// (holding lit, the referenced key) and its logical-name annotation.
func (t *table) bindAssigns(nav string, raw []byte, lit string) ([]assign, error) {
	set := ""
	var ref string
	if json.Unmarshal(raw, &ref) == nil {
		set, _ = boundSet(ref)
	}
	if _, poly := t.def.Polymorphic[nav]; poly {
		// What the OData library behind the Web API answers for a property
		// that is not declared and carries only an annotation: a
		// multi-table lookup is no navigation property.
		return nil, badRequest("An undeclared property '%s' which only has property annotations in the payload but no property value was found in the payload. In OData, only declared navigation properties and declared named streams can be represented as properties without values.", nav)
	}
	lookup := nav
	for name, targets := range t.def.Polymorphic {
		for _, target := range targets {
			if nav != name+"_"+t.logicalName(target) {
				continue
			}
			if set != "" && set != target {
				return nil, badRequest("the navigation property %s binds records of %s, not of %s", nav, target, set)
			}
			lookup, set = name, target
		}
	}
	value := "_" + lookup + "_value"
	annotation := ""
	if lit != "null" && set != "" {
		annotation = string(appendQuote(nil, t.logicalName(set)))
	}
	return []assign{{name: value, lit: lit}, {name: value + lookupLogicalName, lit: annotation}}, nil
}

// boundSet returns the set a binding "/accounts(<id>)" names.
func boundSet(ref string) (string, bool) {
	open := strings.IndexByte(ref, '(')
	if open < 0 {
		return "", false
	}
	return ref[strings.LastIndexByte(ref[:open], '/')+1 : open], true
}

// lookupNames reports whether the request asks for lookups' logical-name
// annotation, and if so the Preference-Applied that says it is given.
func lookupNames(h http.Header) (applied string, ok bool) {
	p := parsePrefer(h)
	if !p.annotation(strings.TrimPrefix(lookupLogicalName, "@")) {
		return "", false
	}
	return `odata.include-annotations="` + p.annotationsRaw + `"`, true
}

// annotationColumns adds to cols (sorted, without duplicates) the
// annotation column of each lookup property among them. Call with the lock
// held.
func (t *table) annotationColumns(cols []int) []int {
	out := cols
	for _, c := range cols {
		if a := t.cols.lookup(t.cols.names[c] + lookupLogicalName); a >= 0 {
			out = append(out, a)
		}
	}
	return out
}
