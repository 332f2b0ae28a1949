package fake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/couplerhq/coupler/connectors"
)

// This file serves the options of Dataverse choice (option set) columns the
// way the Web API documents them, for a server made by NewCRM:
//
//   - stringmaps is read-only: the "StringMap table/entity reference" lists
//     only the Retrieve and RetrieveMultiple messages, and a write to a
//     table without the message is refused with "The 'Create' method does
//     not support entities of type '…'" (the answer Dataverse gives to a
//     POST, PATCH or DELETE of such a table, e.g. appmodulecomponent or
//     solutioncomponent). It still lists every option, one row per label
//     language, so readers of stringmaps see what the actions below did.
//   - the options are read from the column's definition, "Retrieve table
//     definitions by name or MetadataId":
//     GET EntityDefinitions(LogicalName='account')/Attributes(LogicalName='paymenttermscode')/Microsoft.Dynamics.CRM.PicklistAttributeMetadata?$select=LogicalName&$expand=OptionSet($select=Options)
//     answering OptionSet.Options[] of {Value, Label{LocalizedLabels[{Label,
//     LanguageCode}], UserLocalizedLabel}, Description{…}}. OptionSet is a
//     navigation property of PicklistAttributeMetadata, not of
//     AttributeMetadata: expanding it without the type cast is refused.
//   - options are added, relabelled and removed with the unbound actions
//     InsertOptionValue, UpdateOptionValue and DeleteOptionValue, "Create
//     and update choices (option sets) using the Web API", POSTed to the
//     service root with the parameters of the "InsertOptionValue Action"
//     reference (EntityLogicalName, AttributeLogicalName, Value, Label,
//     Description, …). InsertOptionValue answers its
//     InsertOptionValueResponse, {"NewOptionValue": n}; without a Value the
//     service picks one in the default publisher's range (prefix 10000:
//     100000000 on). UpdateOptionValue and DeleteOptionValue answer 204.
//     A parameter the action does not declare is refused as OData refuses
//     it ("The parameter 'X' in the request payload is not a valid
//     parameter for the operation"); so is a non-nullable one left out
//     (MergeLabels, OData 4.01 Part 1 11.5.4.2: a missing parameter is
//     null), a value that exists already, and a column or option that does
//     not exist.

// stringMapsSet is the read-only entity set that lists the options.
const stringMapsSet = "stringmaps"

// publisherBase is the first option value of the default publisher
// (customization prefix 10000), where values the service picks start.
const publisherBase = 100000000

// choiceColumn names a choice (picklist) column by logical names.
type choiceColumn struct{ entity, attribute string }

// optionSets is the state of a server's choice columns beyond stringmaps.
type optionSets struct {
	columns map[choiceColumn]bool // fixed after NewCRM
	mu      sync.Mutex            // serializes the actions: a check and its write are one step
	// desc holds each option's description (language 1033), which
	// stringmaps does not carry. Guarded by mu.
	desc map[choiceColumn]map[int]string
}

// serveChoices makes s serve the options of cols as Dataverse does, each
// column seeded with the options given (value i+1 labelled labels[i]), and
// makes stringmaps read-only. It is called once, by NewCRM, before s serves
// anything.
func (s *Server) serveChoices(cols []shippedChoice) {
	s.options = &optionSets{columns: map[choiceColumn]bool{}, desc: map[choiceColumn]map[int]string{}}
	for _, c := range cols {
		s.options.columns[choiceColumn{c.entity, c.column}] = true
	}
	t := s.tables[stringMapsSet]
	for _, rec := range shippedOptionRecords(cols) {
		// Seeding is what the organization ships, not a client's write.
		w, err := t.goWrite(rec)
		if err == nil {
			_, err = s.apply(t, kindReplace, w.key, w, "")
		}
		if err != nil {
			panic("fake: seed options: " + err.Error()) // fixed data: a bug here, not input
		}
	}
	t.def.ReadOnly = true
}

// shippedChoice is a choice column with the options a new organization has.
type shippedChoice struct {
	entity, column string
	labels         []string // value i+1
}

// shippedOptionRecords are the stringmaps rows of cols, as Dataverse lists
// them: one per option in language 1033, in display order.
func shippedOptionRecords(cols []shippedChoice) []connectors.Record {
	var out []connectors.Record
	for _, c := range cols {
		for i, label := range c.labels {
			out = append(out, optionRecord(choiceColumn{c.entity, c.column}, i+1, label, 1033, i+1))
		}
	}
	return out
}

// optionRecord is one stringmaps row. Its key is derived from the option
// and the language, so that a seeded option and one inserted later with the
// same value have the same row id.
func optionRecord(c choiceColumn, value int, label string, lang, order int) connectors.Record {
	name := fmt.Sprintf("%s/%s/%d", c.entity, c.attribute, value)
	if lang != 1033 {
		name += "/" + strconv.Itoa(lang)
	}
	return connectors.Record{
		"stringmapid":    SeedID("stringmap", name),
		"objecttypecode": c.entity, "attributename": c.attribute, "attributevalue": value,
		"value": label, "langid": lang, "displayorder": order,
	}
}

// refuseReadOnly answers a write to a read-only set as Dataverse does.
func refuseReadOnly(w http.ResponseWriter, r *http.Request, t *table) {
	msg := map[string]string{http.MethodPost: "Create", http.MethodPatch: "Update", http.MethodDelete: "Delete"}[r.Method]
	if msg == "" {
		writeMethodNotAllowed(w, http.MethodGet)
		return
	}
	writeError(w, badRequest("The '%s' method does not support entities of type '%s'. MessageProcessorCache returned MessageProcessor.Empty.", msg, typeName(t.def.Name)))
}

// option is one option of a column, as stringmaps lists it.
type option struct {
	value  int
	order  int
	labels map[int]string // by language code
	keys   map[int]string // stringmaps row key, by language code
}

// options returns the options of c in display order. Callers hold
// s.options.mu or accept a snapshot.
func (s *Server) columnOptions(c choiceColumn) []*option {
	t := s.tables[stringMapsSet]
	s.mu.RLock()
	names := t.cols.names
	var recs []connectors.Record
	for _, e := range t.rows {
		recs = append(recs, t.record(e, names))
	}
	s.mu.RUnlock()
	byValue := map[int]*option{}
	for _, rec := range recs {
		if rec["objecttypecode"] != c.entity || rec["attributename"] != c.attribute {
			continue
		}
		v, ok := intOf(rec["attributevalue"])
		lang, ok2 := intOf(rec["langid"])
		if !ok || !ok2 {
			continue
		}
		o := byValue[v]
		if o == nil {
			o = &option{value: v, labels: map[int]string{}, keys: map[int]string{}}
			byValue[v] = o
		}
		o.labels[lang], _ = rec["value"].(string)
		o.keys[lang], _ = rec["stringmapid"].(string)
		if n, ok := intOf(rec["displayorder"]); ok && (o.order == 0 || n < o.order) {
			o.order = n
		}
	}
	out := make([]*option, 0, len(byValue))
	for _, o := range byValue {
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].order != out[j].order {
			return out[i].order < out[j].order
		}
		return out[i].value < out[j].value
	})
	return out
}

// intOf reads an integer decoded from JSON.
func intOf(v any) (int, bool) {
	switch n := v.(type) {
	case json.Number:
		i, err := strconv.Atoi(n.String())
		return i, err == nil
	case int:
		return n, true
	case float64:
		return int(n), n == float64(int(n))
	}
	return 0, false
}

// serveOptions answers the requests of this file, reporting false for any
// other request. escaped is the request path relative to the service root.
func (s *Server) serveOptions(w http.ResponseWriter, r *http.Request, escaped string) bool {
	p, err := url.PathUnescape(strings.Trim(escaped, "/"))
	if err != nil {
		return false
	}
	switch {
	case strings.HasPrefix(p, "EntityDefinitions("):
		s.serveAttributeDefinition(w, r, p)
		return true
	case p == "InsertOptionValue" || p == "UpdateOptionValue" || p == "DeleteOptionValue":
		if r.Method != http.MethodPost {
			writeMethodNotAllowed(w, http.MethodPost) // actions are invoked with POST only
			return true
		}
		s.serveOptionAction(w, r, p)
		return true
	}
	return false
}

// serveAttributeDefinition answers
// EntityDefinitions(LogicalName='t')/Attributes(LogicalName='c')[/Microsoft.Dynamics.CRM.PicklistAttributeMetadata].
func (s *Server) serveAttributeDefinition(w http.ResponseWriter, r *http.Request, p string) {
	if r.Method != http.MethodGet {
		writeMethodNotAllowed(w, http.MethodGet)
		return
	}
	segs := strings.Split(p, "/")
	entity, ok1 := logicalNameKey(segs[0], "EntityDefinitions")
	if len(segs) < 2 || len(segs) > 3 || !ok1 {
		writeError(w, errorf(http.StatusNotFound, codeNotFound, "no resource at /%s", p))
		return
	}
	attr, ok2 := logicalNameKey(segs[1], "Attributes")
	picklist := len(segs) == 3 && segs[2] == s.Namespace()+".PicklistAttributeMetadata"
	if !ok2 || len(segs) == 3 && !picklist {
		writeError(w, errorf(http.StatusNotFound, codeNotFound, "no resource at /%s", p))
		return
	}
	col := choiceColumn{entity, attr}
	if !s.options.columns[col] {
		writeError(w, errorf(http.StatusNotFound, codeNotFound, "Could not find attribute %q of entity %q, or it is not a choice column", attr, entity))
		return
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		writeError(w, badRequest("malformed query: %v", err))
		return
	}
	var expandOptions bool
	if x := q.Get("$expand"); x != "" {
		typ := "AttributeMetadata"
		if picklist {
			typ = "PicklistAttributeMetadata"
		}
		for _, item := range splitTopLevel(x) {
			nav, _, _ := strings.Cut(item, "(")
			switch {
			case picklist && nav == "OptionSet":
				expandOptions = true
			case picklist && nav == "GlobalOptionSet":
				// Local option sets only: GlobalOptionSet expands to null.
			default:
				writeError(w, badRequest("Could not find a property named '%s' on type '%s.%s'.", nav, s.Namespace(), typ))
				return
			}
		}
	}
	for k := range q {
		if k != "$select" && k != "$expand" {
			writeError(w, badRequest("the query option %s is not supported on a definition", k))
			return
		}
	}
	var b bytes.Buffer
	b.WriteString(`{"@odata.context":`)
	b.Write(appendQuote(nil, serviceRoot(r)+"/$metadata#EntityDefinitions('"+SeedID("entity", entity)+"')/Attributes/"+s.Namespace()+".PicklistAttributeMetadata/$entity"))
	b.WriteString(`,"LogicalName":`)
	b.Write(appendQuote(nil, attr))
	b.WriteString(`,"MetadataId":`)
	b.Write(appendQuote(nil, SeedID("attribute", entity+"/"+attr)))
	if expandOptions {
		s.options.mu.Lock()
		opts := s.columnOptions(col)
		desc := s.options.desc[col]
		s.options.mu.Unlock()
		b.WriteString(`,"OptionSet":{"MetadataId":`)
		b.Write(appendQuote(nil, SeedID("optionset", entity+"/"+attr)))
		b.WriteString(`,"Options":[`)
		for i, o := range opts {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"Value":%d,"Color":null,"IsManaged":false,"ExternalValue":null,"ParentValues":[],"MetadataId":null,"HasChanged":null,"Label":`, o.value)
			appendLabel(&b, o.labels)
			b.WriteString(`,"Description":`)
			d := map[int]string{}
			if desc[o.value] != "" {
				d[1033] = desc[o.value]
			}
			appendLabel(&b, d)
			b.WriteByte('}')
		}
		b.WriteString(`]}`)
		if q.Has("$expand") && strings.Contains(q.Get("$expand"), "GlobalOptionSet") {
			b.WriteString(`,"GlobalOptionSet":null`)
		}
	}
	b.WriteString("}\n")
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b.Bytes())
}

// appendLabel writes a Label complex type: LocalizedLabels in language
// order and UserLocalizedLabel, the label in the user's language (1033).
func appendLabel(b *bytes.Buffer, labels map[int]string) {
	langs := make([]int, 0, len(labels))
	for l := range labels {
		langs = append(langs, l)
	}
	slices.Sort(langs)
	one := func(lang int) {
		b.WriteString(`{"Label":`)
		b.Write(appendQuote(nil, labels[lang]))
		fmt.Fprintf(b, `,"LanguageCode":%d,"IsManaged":false,"MetadataId":null,"HasChanged":null}`, lang)
	}
	b.WriteString(`{"LocalizedLabels":[`)
	for i, l := range langs {
		if i > 0 {
			b.WriteByte(',')
		}
		one(l)
	}
	b.WriteString(`],"UserLocalizedLabel":`)
	if _, ok := labels[1033]; ok {
		one(1033)
	} else {
		b.WriteString("null")
	}
	b.WriteByte('}')
}

// logicalNameKey parses seg as name(LogicalName='x') and returns x.
func logicalNameKey(seg, name string) (string, bool) {
	rest, ok := strings.CutPrefix(seg, name+"(LogicalName='")
	if !ok {
		return "", false
	}
	v, ok := strings.CutSuffix(rest, "')")
	if !ok || v == "" || strings.ContainsAny(v, "'/") {
		return "", false
	}
	return v, true
}

// splitTopLevel splits an $expand value at the commas outside parentheses.
func splitTopLevel(s string) []string {
	var out []string
	depth, start := 0, 0
	for i, c := range s {
		switch c {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, strings.TrimSpace(s[start:i]))
				start = i + 1
			}
		}
	}
	return append(out, strings.TrimSpace(s[start:]))
}

// actionParams are the parameters each action declares ("InsertOptionValue
// Action", "UpdateOptionValue Action", "DeleteOptionValue Action").
var actionParams = map[string][]string{
	"InsertOptionValue": {"Color", "OptionSetName", "AttributeLogicalName", "ExternalValue", "EntityLogicalName",
		"Value", "Label", "Description", "ParentValues", "SolutionUniqueName"},
	"UpdateOptionValue": {"Color", "OptionSetName", "AttributeLogicalName", "ExternalValue", "EntityLogicalName",
		"Value", "Label", "Description", "MergeLabels", "ParentValues", "SolutionUniqueName"},
	"DeleteOptionValue": {"OptionSetName", "AttributeLogicalName", "EntityLogicalName", "Value", "SolutionUniqueName"},
}

// labelParam is the Label complex type of an action's body.
type labelParam struct {
	LocalizedLabels []struct {
		Label        *string `json:"Label"`
		LanguageCode *int    `json:"LanguageCode"`
	} `json:"LocalizedLabels"`
}

// actionBody is the body of one of the three actions, decoded.
type actionBody struct {
	OptionSetName        *string     `json:"OptionSetName"`
	EntityLogicalName    *string     `json:"EntityLogicalName"`
	AttributeLogicalName *string     `json:"AttributeLogicalName"`
	Value                *int32      `json:"Value"`
	Label                *labelParam `json:"Label"`
	Description          *labelParam `json:"Description"`
	MergeLabels          *bool       `json:"MergeLabels"`
}

// labels returns the labels of l by language, checking each has both parts.
func (l *labelParam) labels(param string) (map[int]string, error) {
	out := map[int]string{}
	for _, ll := range l.LocalizedLabels {
		if ll.Label == nil || ll.LanguageCode == nil {
			return nil, badRequest("%s: every LocalizedLabel needs Label and LanguageCode", param)
		}
		out[*ll.LanguageCode] = *ll.Label
	}
	return out, nil
}

func (s *Server) serveOptionAction(w http.ResponseWriter, r *http.Request, action string) {
	ms, err := decodeObject(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		writeError(w, badRequest("malformed JSON body: %v", err))
		return
	}
	for _, m := range ms {
		if !strings.HasPrefix(m.name, "@") && !slices.Contains(actionParams[action], m.name) {
			writeError(w, badRequest("The parameter '%s' in the request payload is not a valid parameter for the operation '%s'.", m.name, action))
			return
		}
	}
	var body actionBody
	raw, _ := json.Marshal(membersObject(ms))
	if err := json.Unmarshal(raw, &body); err != nil {
		writeError(w, badRequest("malformed parameters of %s: %v", action, err))
		return
	}
	if body.OptionSetName != nil && *body.OptionSetName != "" {
		writeError(w, badRequest("%s: global option sets are not served by this fake; name the column with EntityLogicalName and AttributeLogicalName", action))
		return
	}
	if body.EntityLogicalName == nil || body.AttributeLogicalName == nil {
		writeError(w, badRequest("%s: EntityLogicalName and AttributeLogicalName are required for the option set of a column", action))
		return
	}
	col := choiceColumn{*body.EntityLogicalName, *body.AttributeLogicalName}
	if !s.options.columns[col] {
		writeError(w, errorf(http.StatusNotFound, codeNotFound, "Could not find attribute %q of entity %q, or it is not a choice column", col.attribute, col.entity))
		return
	}
	s.options.mu.Lock()
	defer s.options.mu.Unlock()
	opts := s.columnOptions(col)
	find := func(v int) *option {
		for _, o := range opts {
			if o.value == v {
				return o
			}
		}
		return nil
	}
	switch action {
	case "InsertOptionValue":
		s.insertOption(w, r, col, body, opts, find)
	case "UpdateOptionValue":
		s.updateOption(w, col, body, find)
	case "DeleteOptionValue":
		o, err := targetOption(action, col, body, find)
		if err != nil {
			writeError(w, err)
			return
		}
		t := s.tables[stringMapsSet]
		for _, key := range o.keys {
			if _, err := s.apply(t, kindRemove, key, write{}, ""); err != nil {
				writeError(w, err)
				return
			}
		}
		delete(s.options.desc[col], o.value)
		w.WriteHeader(http.StatusNoContent)
	}
}

func (s *Server) insertOption(w http.ResponseWriter, r *http.Request, col choiceColumn, body actionBody, opts []*option, find func(int) *option) {
	if body.Label == nil {
		writeError(w, badRequest("InsertOptionValue: Label is required"))
		return
	}
	labels, err := body.Label.labels("Label")
	if err != nil {
		writeError(w, err)
		return
	}
	if labels[1033] == "" {
		writeError(w, badRequest("InsertOptionValue: Label needs a label in the base language 1033"))
		return
	}
	value := publisherBase
	if body.Value != nil {
		value = int(*body.Value)
		if find(value) != nil {
			writeError(w, badRequest("An option with the value %d already exists in %s.%s", value, col.entity, col.attribute))
			return
		}
	} else {
		for _, o := range opts {
			if o.value >= value {
				value = o.value + 1
			}
		}
	}
	if err := s.putOption(col, value, labels, len(opts)+1, nil); err != nil {
		writeError(w, err)
		return
	}
	if body.Description != nil {
		d, err := body.Description.labels("Description")
		if err != nil {
			writeError(w, err)
			return
		}
		s.setDescription(col, value, d[1033])
	}
	b := appendQuote([]byte(`{"@odata.context":`), serviceRoot(r)+"/$metadata#"+s.Namespace()+".InsertOptionValueResponse")
	b = fmt.Appendf(b, `,"NewOptionValue":%d}`+"\n", value)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// targetOption is the existing option an update or delete action names by
// its required Value: 400 without one, 404 when the column has none such.
func targetOption(action string, col choiceColumn, body actionBody, find func(int) *option) (*option, *statusError) {
	if body.Value == nil {
		return nil, badRequest("%s: Value is required", action)
	}
	o := find(int(*body.Value))
	if o == nil {
		return nil, errorf(http.StatusNotFound, codeNotFound, "%s.%s has no option with the value %d", col.entity, col.attribute, *body.Value)
	}
	return o, nil
}

func (s *Server) updateOption(w http.ResponseWriter, col choiceColumn, body actionBody, find func(int) *option) {
	if body.Value != nil && body.MergeLabels == nil {
		writeError(w, badRequest("UpdateOptionValue: MergeLabels is required (it is not nullable)"))
		return
	}
	o, serr := targetOption("UpdateOptionValue", col, body, find)
	if serr != nil {
		writeError(w, serr)
		return
	}
	if body.Label != nil {
		labels, err := body.Label.labels("Label")
		if err != nil {
			writeError(w, err)
			return
		}
		if *body.MergeLabels {
			for lang, l := range o.labels {
				if _, given := labels[lang]; !given {
					labels[lang] = l
				}
			}
		}
		if labels[1033] == "" {
			writeError(w, badRequest("UpdateOptionValue: the option would have no label in the base language 1033"))
			return
		}
		if err := s.putOption(col, o.value, labels, o.order, o.keys); err != nil {
			writeError(w, err)
			return
		}
	}
	if body.Description != nil {
		d, err := body.Description.labels("Description")
		if err != nil {
			writeError(w, err)
			return
		}
		s.setDescription(col, o.value, d[1033])
	}
	w.WriteHeader(http.StatusNoContent)
}

// putOption writes the stringmaps rows of one option, one per language,
// removing the rows in old of languages no longer labelled.
func (s *Server) putOption(col choiceColumn, value int, labels map[int]string, order int, old map[int]string) error {
	t := s.tables[stringMapsSet]
	for lang, key := range old {
		if _, keep := labels[lang]; !keep {
			if _, err := s.apply(t, kindRemove, key, write{}, ""); err != nil {
				return err
			}
		}
	}
	for lang, label := range labels {
		wr, err := t.goWrite(optionRecord(col, value, label, lang, order))
		if err != nil {
			return err
		}
		if _, err := s.apply(t, kindReplace, wr.key, wr, ""); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) setDescription(col choiceColumn, value int, d string) {
	if s.options.desc[col] == nil {
		s.options.desc[col] = map[int]string{}
	}
	s.options.desc[col][value] = d
}

// membersObject rebuilds a JSON object from decoded members.
func membersObject(ms []member) map[string]json.RawMessage {
	out := make(map[string]json.RawMessage, len(ms))
	for _, m := range ms {
		out[m.name] = m.raw
	}
	return out
}

// Options returns the options of the choice column table.column as the
// column's definition lists them, value -> label in language 1033; nil
// when the server serves no such column.
func (s *Server) Options(table, column string) map[int]string {
	col := choiceColumn{table, column}
	if s.options == nil || !s.options.columns[col] {
		return nil
	}
	s.options.mu.Lock()
	defer s.options.mu.Unlock()
	out := map[int]string{}
	for _, o := range s.columnOptions(col) {
		out[o.value] = o.labels[1033]
	}
	return out
}
