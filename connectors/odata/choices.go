package odata

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/connectors/redact"
	"github.com/couplerhq/coupler/connectors/transport"
)

// The options of a Dataverse choice (option set) column, as an entity whose
// records are the options. A mapping names it
//
//	entity: choices(account.paymenttermscode)
//
// (a table's and one of its choice columns' logical names) with key: value;
// each record is {value, label, description}: the option's integer, its
// label and its description in language ChoiceLanguage. OData names no
// entity set like that ('(' and '.' cannot be in one), so the name cannot
// shadow a set.
//
// Dataverse keeps options in the column's definition, not in a table:
// stringmaps lists them but is read-only ("StringMap table/entity
// reference": Retrieve and RetrieveMultiple only). So, as "Create and
// update choices (option sets) using the Web API" documents:
//
//	read    GET  {root}/EntityDefinitions(LogicalName='account')/Attributes(LogicalName='paymenttermscode')/Microsoft.Dynamics.CRM.PicklistAttributeMetadata?$select=LogicalName&$expand=OptionSet($select=Options),GlobalOptionSet($select=Options)
//	create  POST {root}/InsertOptionValue  {"EntityLogicalName", "AttributeLogicalName", "Value", "Label", "Description"}
//	update  POST {root}/UpdateOptionValue  {…, "Value", "Label", "Description", "MergeLabels": true}
//	delete  POST {root}/DeleteOptionValue  {…, "Value"}
//
// The read is "Retrieve table definitions by name or MetadataId" (both
// OptionSet and GlobalOptionSet expanded, so that a column using a global
// choice is read too); labels are the Label complex type,
// {"LocalizedLabels": [{"Label", "LanguageCode"}]} ("InsertOptionValue
// Action", "UpdateOptionValue Action", "DeleteOptionValue Action").
// InsertOptionValue answers {"NewOptionValue": n}, the new record's key:
// the Value sent, or the one the service picked when none was. Update
// merges labels (MergeLabels: true), so labels in other languages stay.
//
// These are small code tables: every read lists all options (there is no
// modified field and no server-side filter; coupler applies the mapping's
// filter itself), and there are no ETags, so the last write wins. Writes
// are one request each, never in a $batch, whatever batch_size says.

// ChoiceLanguage is the language code of the labels and descriptions the
// options are read and written in: 1033, English, the base language of
// most organizations and the one the bundled mappings use.
const ChoiceLanguage = 1033

// choice names a choice column by logical names.
type choice struct{ table, column string }

// choiceFields are the fields of an option record.
var choiceFields = []string{"value", "label", "description"}

// choiceName matches the reserved entity form; logical names are lower-case
// letters, digits and underscores, but upper case is let through for the
// service to judge.
var choiceName = regexp.MustCompile(`^choices\(([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)\)$`)

// parseChoice reports whether name is the reserved form choices(t.c), and
// which column it names. A name that starts like it but is malformed is an
// error rather than an entity set: no set is called "choices(".
func parseChoice(name string) (choice, bool, error) {
	if !strings.HasPrefix(name, "choices(") {
		return choice{}, false, nil
	}
	m := choiceName.FindStringSubmatch(name)
	if m == nil {
		return choice{}, true, fmt.Errorf("entity %q: the options of a choice column are named choices(table.column), by the logical names of the table and the column, e.g. choices(account.paymenttermscode)", name)
	}
	return choice{m[1], m[2]}, true, nil
}

// CheckChoiceEntity checks a mapping side on an odata connector whose
// entity is the reserved form choices(table.column): its key must be value
// and it has no modified field. It returns the fields of its records, or
// nil when entity is not of that form, so that a project loader can check
// field names and point at the setting. Several mistakes are joined
// (errors.Join).
func CheckChoiceEntity(entity, key, modified string) (fields []string, err error) {
	_, ok, err := parseChoice(entity)
	if !ok || err != nil {
		return nil, err
	}
	var errs []error
	if key != "value" {
		errs = append(errs, fmt.Errorf("entity %s: key must be value, the option's integer, not %q", entity, key))
	}
	if modified != "" {
		errs = append(errs, fmt.Errorf("entity %s: options have no modified field (every read lists all of them): leave modified out, not %q", entity, modified))
	}
	return choiceFields, errors.Join(errs...)
}

// choiceOf returns the column e names, if e is an option entity.
func choiceOf(e connectors.Entity) (choice, bool, error) {
	ch, ok, err := parseChoice(e.Name)
	if !ok || err != nil {
		return ch, ok, err
	}
	if e.Key != "value" {
		return ch, true, fmt.Errorf("the key of %s is value, the option's integer, not %q", e.Name, e.Key)
	}
	return ch, true, nil
}

// definitionPath is the escaped path of the column's definition.
func (ch choice) definitionPath() string {
	return "EntityDefinitions(LogicalName='" + ch.table + "')/Attributes(LogicalName='" + ch.column + "')/Microsoft.Dynamics.CRM.PicklistAttributeMetadata"
}

// choiceURL is the URL that reads the column's options.
// Its query is written as the documentation writes it, with the '=' inside
// $expand unescaped.
func (c *Client) choiceURL(ch choice) string {
	u := c.resourceURL(ch.definitionPath())
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	return u + sep + "$select=LogicalName&$expand=OptionSet($select=Options),GlobalOptionSet($select=Options)"
}

// readChoices reads every option of ch.
func (c *Client) readChoices(ctx context.Context, ch choice) ([]connectors.Record, error) {
	req, err := c.newRequest(ctx, http.MethodGet, c.choiceURL(ch), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := transport.ReadBody(resp, c.maxBody)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", redact.PathQuery(req.URL), err)
	}
	recs, err := decodeChoices(body, ChoiceLanguage)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", redact.PathQuery(req.URL), err)
	}
	return recs, nil
}

// attributeDefinition is the part of a PicklistAttributeMetadata read.
type attributeDefinition struct {
	LogicalName     string         `json:"LogicalName"`
	OptionSet       *optionSetMeta `json:"OptionSet"`
	GlobalOptionSet *optionSetMeta `json:"GlobalOptionSet"`
}

type optionSetMeta struct {
	Options []optionMeta `json:"Options"`
}

type optionMeta struct {
	Value       *json.Number `json:"Value"`
	Label       *labelMeta   `json:"Label"`
	Description *labelMeta   `json:"Description"`
}

// labelMeta is Dataverse's Label complex type.
type labelMeta struct {
	LocalizedLabels []localizedLabel `json:"LocalizedLabels"`
	// UserLocalizedLabel is the label in the calling user's language.
	UserLocalizedLabel *localizedLabel `json:"UserLocalizedLabel"`
}

type localizedLabel struct {
	Label        string `json:"Label"`
	LanguageCode int    `json:"LanguageCode"`
}

// text returns the label in lang, else the user's, else "".
func (l *labelMeta) text(lang int) string {
	if l == nil {
		return ""
	}
	for _, ll := range l.LocalizedLabels {
		if ll.LanguageCode == lang {
			return ll.Label
		}
	}
	if l.UserLocalizedLabel != nil {
		return l.UserLocalizedLabel.Label
	}
	return ""
}

// decodeChoices decodes a column definition with its options expanded into
// option records: value (a json.Number), label and description in lang
// (null when the option has none), in the service's order. The options
// are OptionSet's, or GlobalOptionSet's when the column uses a global
// choice and only that is expanded.
func decodeChoices(body []byte, lang int) ([]connectors.Record, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var def attributeDefinition
	if err := dec.Decode(&def); err != nil {
		return nil, at(dec, err)
	}
	if dec.More() {
		return nil, at(dec, errors.New("data after the definition"))
	}
	set := def.OptionSet
	if set == nil || set.Options == nil {
		set = def.GlobalOptionSet
	}
	if set == nil || set.Options == nil {
		return nil, errors.New("the definition has no OptionSet.Options: is the column a choice (picklist) column?")
	}
	out := make([]connectors.Record, 0, len(set.Options))
	seen := map[string]bool{}
	for i, o := range set.Options {
		if o.Value == nil {
			return nil, fmt.Errorf("option %d has no Value", i)
		}
		if _, err := strconv.ParseInt(o.Value.String(), 10, 32); err != nil {
			return nil, fmt.Errorf("option %d: Value %s is not an Edm.Int32", i, o.Value)
		}
		if seen[o.Value.String()] {
			return nil, fmt.Errorf("option %d: Value %s appears twice", i, o.Value)
		}
		seen[o.Value.String()] = true
		rec := connectors.Record{"value": *o.Value, "label": nil, "description": nil}
		if l := o.Label.text(lang); l != "" {
			rec["label"] = l
		}
		if d := o.Description.text(lang); d != "" {
			rec["description"] = d
		}
		out = append(out, rec)
	}
	return out, nil
}

// readChoiceEntity is Read for an option entity: one page of every option.
// bad is choiceOf's verdict on the entity, reported here.
func (c *Client) readChoiceEntity(ctx context.Context, ch choice, bad error, q connectors.Query, fn func(connectors.Page) error) error {
	if bad != nil {
		return wrap("read", q.Entity.Name, "", bad)
	}
	recs, err := c.readChoices(ctx, ch)
	if err != nil {
		return wrap("read", q.Entity.Name, "", err)
	}
	c.log.DebugContext(ctx, "odata: options", "entity", q.Entity.Name, "records", len(recs))
	if len(recs) == 0 {
		return nil
	}
	return fn(connectors.Page{Records: recs})
}

// getChoiceEntity is Get (and, with fold, GetFolded) for an option
// entity: the options whose field e.Key is one of ids. That is the value
// for Get by key, or another field (the label) when a match looks up its
// candidates. An option entity has no entity set to filter, so the
// column's options are read and compared here.
func (c *Client) getChoiceEntity(ctx context.Context, ch choice, e connectors.Entity, ids []string, fold bool) ([]connectors.Record, error) {
	if !slices.Contains(choiceFields, e.Key) {
		return nil, wrap("get", e.Name, "", fmt.Errorf("options have the fields %s, not %q", strings.Join(choiceFields, ", "), e.Key))
	}
	recs, err := c.readChoices(ctx, ch)
	if err != nil {
		return nil, wrap("get", e.Name, "", err)
	}
	norm := func(s string) string {
		if fold {
			return strings.ToLower(s)
		}
		return s
	}
	want := map[string]bool{}
	for _, id := range ids {
		want[norm(id)] = true
	}
	return slices.DeleteFunc(recs, func(r connectors.Record) bool { return !want[norm(keyString(r[e.Key]))] }), nil
}

// writeChoiceEntity is Write for an option entity: one action per op.
func (c *Client) writeChoiceEntity(ctx context.Context, ch choice, bad error, e connectors.Entity, ops []connectors.WriteOp) ([]connectors.WriteResult, error) {
	if bad != nil {
		return nil, wrap("write", e.Name, "", bad)
	}
	results, started := connectors.WriteEach(ctx, ops, c.concurrency, func(op connectors.WriteOp) connectors.WriteResult {
		res, err := c.writeChoice(ctx, ch, op)
		if err != nil {
			return resultError(e, op, err)
		}
		return res
	})
	if err := ctx.Err(); err != nil {
		connectors.NotSent(results, ops, started, err, func(op connectors.WriteOp, err error) error {
			return wrap(string(op.Op), e.Name, op.Key, err)
		})
		return results, wrap("write", e.Name, "", err)
	}
	return results, nil
}

// writeChoice performs one op with its action.
func (c *Client) writeChoice(ctx context.Context, ch choice, op connectors.WriteOp) (connectors.WriteResult, error) {
	action, body, err := encodeChoiceWrite(ch, op)
	if err != nil {
		return connectors.WriteResult{}, err
	}
	if body == nil {
		return connectors.WriteResult{Key: op.Key}, nil // nothing to change
	}
	resp, err := c.send(ctx, writeRequest{method: http.MethodPost, resource: action, body: body})
	if err != nil {
		return connectors.WriteResult{}, err
	}
	if op.Op != connectors.OpCreate {
		return connectors.WriteResult{Key: op.Key}, nil
	}
	var answer struct {
		NewOptionValue *json.Number `json:"NewOptionValue"`
	}
	dec := json.NewDecoder(bytes.NewReader(resp.body))
	dec.UseNumber()
	if err := dec.Decode(&answer); err != nil || answer.NewOptionValue == nil {
		return connectors.WriteResult{}, fmt.Errorf("created, but the answer of %s names no NewOptionValue (%v)", action, err)
	}
	return connectors.WriteResult{Key: answer.NewOptionValue.String()}, nil
}

// encodeChoiceWrite returns the action and body that perform op, or a nil
// body when an update changes nothing.
func encodeChoiceWrite(ch choice, op connectors.WriteOp) (action string, body []byte, err error) {
	params := map[string]any{"EntityLogicalName": ch.table, "AttributeLogicalName": ch.column}
	var value *int32
	if op.Op != connectors.OpCreate {
		v, err := optionValue(op.Key)
		if err != nil {
			return "", nil, fmt.Errorf("key: %w", err)
		}
		value = &v
	}
	changes := 0
	for name, v := range op.Fields {
		switch name {
		case "value":
			if v == nil && op.Op == connectors.OpCreate {
				continue // the service picks one
			}
			n, err := optionValue(v)
			if err != nil {
				return "", nil, fmt.Errorf("field value: %w", err)
			}
			if value != nil && *value != n {
				return "", nil, fmt.Errorf("field value: an option's value cannot change (%d to %d): create the new one instead", *value, n)
			}
			value = &n
		case "label":
			s, ok := v.(string)
			if !ok || s == "" {
				return "", nil, fmt.Errorf("field label: an option needs a label (text), not %v", describeValue(v))
			}
			params["Label"] = label(s)
			changes++
		case "description":
			s, ok := v.(string)
			if v != nil && !ok {
				return "", nil, fmt.Errorf("field description: want text, not %v", describeValue(v))
			}
			params["Description"] = label(s)
			changes++
		case etagKey:
		default:
			return "", nil, fmt.Errorf("field %s: the options of a choice column have the fields %s only", name, strings.Join(choiceFields, ", "))
		}
	}
	switch op.Op {
	case connectors.OpCreate:
		action = "InsertOptionValue"
		if _, ok := params["Label"]; !ok {
			return "", nil, errors.New("a new option needs a label: map the field label")
		}
	case connectors.OpUpdate:
		action = "UpdateOptionValue"
		if changes == 0 {
			return action, nil, nil
		}
		params["MergeLabels"] = true // keep the labels of other languages
	case connectors.OpDelete:
		action = "DeleteOptionValue"
		delete(params, "Label")
		delete(params, "Description")
	default:
		return "", nil, fmt.Errorf("unknown write op %q", op.Op)
	}
	if value != nil {
		params["Value"] = *value
	}
	body, err = encodeFields(params)
	return action, body, err
}

// label is a Label complex type with one label in ChoiceLanguage; an
// empty text clears it.
func label(text string) map[string]any {
	return map[string]any{"LocalizedLabels": []map[string]any{{"Label": text, "LanguageCode": ChoiceLanguage}}}
}

// optionValue reads an option's value: an Edm.Int32, given as a number or
// as its decimal text (a key).
func optionValue(v any) (int32, error) {
	var s string
	switch n := v.(type) {
	case json.Number:
		s = n.String()
	case string:
		s = n
	case float64:
		s = strconv.FormatFloat(n, 'f', -1, 64)
	case int:
		s = strconv.Itoa(n)
	case int64:
		s = strconv.FormatInt(n, 10)
	default:
		return 0, fmt.Errorf("an option's value is a whole number, not %v", describeValue(v))
	}
	i, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("an option's value is a whole number in the Edm.Int32 range, not %q", s)
	}
	return int32(i), nil
}

// describeValue names a value's JSON kind for an error, without its text.
func describeValue(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "text"
	case bool:
		return "a boolean"
	case json.Number, float64, int, int64:
		return "a number"
	default:
		return fmt.Sprintf("a %T", v)
	}
}

var _ connectors.KeyFromFields = (*Client)(nil)

// KeyFromFields implements connectors.KeyFromFields: an option created with
// a value is that value's option, so a lost InsertOptionValue answer is
// settled by reading the value back (options have no modified field to find
// recent records by).
func (c *Client) KeyFromFields(e connectors.Entity) bool {
	_, ok, err := choiceOf(e)
	return ok && err == nil
}

var _ connectors.EntityDescriber = (*Client)(nil)

// DescribeEntity implements connectors.EntityDescriber for
// choices(table.column), which $metadata does not list: it reads the
// column's options, so that validate --online learns whether the column
// exists and is a choice column, and describes the option records. Other
// names are not its own (nil, nil).
func (c *Client) DescribeEntity(ctx context.Context, name string) (*connectors.EntitySchema, error) {
	ch, ok, err := parseChoice(name)
	if !ok {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if _, err := c.readChoices(ctx, ch); err != nil {
		return nil, fmt.Errorf("the options of %s.%s: %w", ch.table, ch.column, err)
	}
	return &connectors.EntitySchema{
		Name: name, Type: "Microsoft.Dynamics.CRM.OptionMetadata", Key: []string{"value"},
		Fields: []connectors.FieldSchema{
			{Name: "value", Type: "Edm.Int32"},
			{Name: "label", Type: "Edm.String", Nullable: true},
			{Name: "description", Type: "Edm.String", Nullable: true},
		},
	}, nil
}
