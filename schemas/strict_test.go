package schemas

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// keywords2020 are the keywords of JSON Schema draft 2020-12 (core,
// applicator, unevaluated, validation, meta-data, format-annotation and
// content vocabularies).
var keywords2020 = map[string]bool{
	"$schema": true, "$id": true, "$ref": true, "$anchor": true, "$dynamicRef": true, "$dynamicAnchor": true,
	"$vocabulary": true, "$comment": true, "$defs": true,
	"allOf": true, "anyOf": true, "oneOf": true, "not": true, "if": true, "then": true, "else": true,
	"dependentSchemas": true, "prefixItems": true, "items": true, "contains": true, "properties": true,
	"patternProperties": true, "additionalProperties": true, "propertyNames": true,
	"unevaluatedItems": true, "unevaluatedProperties": true,
	"type": true, "enum": true, "const": true, "multipleOf": true, "maximum": true, "exclusiveMaximum": true,
	"minimum": true, "exclusiveMinimum": true, "maxLength": true, "minLength": true, "pattern": true,
	"maxItems": true, "minItems": true, "uniqueItems": true, "maxContains": true, "minContains": true,
	"maxProperties": true, "minProperties": true, "required": true, "dependentRequired": true,
	"title": true, "description": true, "default": true, "deprecated": true, "readOnly": true,
	"writeOnly": true, "examples": true, "format": true,
	"contentEncoding": true, "contentMediaType": true, "contentSchema": true,
}

// forEachSchema calls fn for every schema object in doc, with its JSON
// pointer; the values of annotations and of enum and const are data, not
// schemas, and are not entered.
func forEachSchema(doc any, fn func(ptr string, sch map[string]any)) {
	var walk func(ptr string, v any)
	walk = func(ptr string, v any) {
		sch, ok := v.(map[string]any)
		if !ok {
			return
		}
		fn(ptr, sch)
		for k, c := range sch {
			switch k {
			case "properties", "patternProperties", "$defs", "dependentSchemas":
				if m, ok := c.(map[string]any); ok {
					for name, s := range m {
						walk(ptr+"/"+k+"/"+name, s)
					}
				}
			case "allOf", "anyOf", "oneOf", "prefixItems":
				if l, ok := c.([]any); ok {
					for i, s := range l {
						walk(ptr+"/"+k+"/"+itoa(i), s)
					}
				}
			case "not", "if", "then", "else", "items", "contains", "additionalProperties", "propertyNames",
				"unevaluatedItems", "unevaluatedProperties", "contentSchema":
				walk(ptr+"/"+k, c)
			}
		}
	}
	walk("", doc)
}

// TestStandardKeywordsOnly keeps the schemas to the keywords of draft
// 2020-12: ajv in strict mode, as editors and CI pipelines run it, rejects
// a schema with any other (errorMessage, patternErrorMessage,
// markdownDescription). TestSchemasStrictAjv runs ajv itself.
func TestStandardKeywordsOnly(t *testing.T) {
	for _, s := range All {
		var doc any
		if err := json.Unmarshal(s.Data, &doc); err != nil {
			t.Fatal(err)
		}
		forEachSchema(doc, func(ptr string, sch map[string]any) {
			for k := range sch {
				if !keywords2020[k] {
					t.Errorf("%s#%s: %q is not a draft 2020-12 keyword", s.File, ptr, k)
				}
			}
		})
	}
}

// ruleKeywords are the keywords whose subschemas are rules, as package
// mappings reads them (schemaReport.message).
var ruleKeywords = map[string]bool{
	"allOf": true, "anyOf": true, "oneOf": true, "not": true,
	"if": true, "then": true, "else": true, "propertyNames": true,
}

// TestRuleMessages checks the convention the loader's messages rest on
// (package mappings, schemaReport.message): a subschema under a rule
// keyword whose description starts lower case is a rule, its description
// the message, so it must hold a keyword that can fail (a description
// that documents something under a rule keyword starts upper case).
func TestRuleMessages(t *testing.T) {
	rules := 0
	for _, s := range All {
		var doc any
		if err := json.Unmarshal(s.Data, &doc); err != nil {
			t.Fatal(err)
		}
		forEachSchema(doc, func(ptr string, sch map[string]any) {
			desc, _ := sch["description"].(string)
			first, _ := utf8.DecodeRuneInString(desc)
			inRule := false
			for _, tok := range strings.Split(ptr, "/") {
				inRule = inRule || ruleKeywords[tok]
			}
			if !inRule || !unicode.IsLower(first) {
				return
			}
			rules++
			for k := range sch {
				switch k {
				case "description", "title", "examples", "default", "$comment", "deprecated":
				default:
					return
				}
			}
			t.Errorf("%s#%s: the rule %q has no keyword to fail", s.File, ptr, desc)
		})
	}
	if rules < 30 {
		t.Errorf("found %d rules, want the 30 or so the schemas hold", rules)
	}
}
