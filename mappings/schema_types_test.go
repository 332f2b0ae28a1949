package mappings

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"testing"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/connectors/config"
)

// projectSchemaFile is the project file's schema, which editors and the
// loader use (package schemas embeds it).
const projectSchemaFile = "../schemas/coupler.schema.json"

// TestProjectSchemaHasConnectorTypes keeps the project file's schema made
// of the common connector keys and every registered connector type's
// (connectors.Spec.Schema): a type's setting is declared in its own folder
// and copied here by
//
//	go test ./mappings -run TestProjectSchemaHasConnectorTypes -update
//
// so that adding one touches that folder and this generated file only.
func TestProjectSchemaHasConnectorTypes(t *testing.T) {
	src, err := os.ReadFile(projectSchemaFile)
	if err != nil {
		t.Fatal(err)
	}
	got, err := withConnectorTypes(src)
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(projectSchemaFile, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if !bytes.Equal(got, src) {
		t.Errorf("%s is not made of the connector types' schemas; run\n\tgo test ./mappings -run TestProjectSchemaHasConnectorTypes -update", projectSchemaFile)
	}
}

// TestConnectorTypeSchemaKeys checks that each type's schema lists exactly
// the keys its settings decode.
func TestConnectorTypeSchemaKeys(t *testing.T) {
	for _, typ := range connectors.Types() {
		spec, _ := connectors.SpecOf(typ)
		connectorKeys, entityKeys := connectors.KeysOf(typ)
		s := spec.NewSettings()
		if got := slices.Sorted(maps.Keys(s.Keys(&config.Decoder{}, ""))); !slices.Equal(got, connectorKeys) {
			t.Errorf("type %s: Keys decodes %q, its schema lists %q", typ, got, connectorKeys)
		}
		if got := slices.Sorted(maps.Keys(s.EntityKeys(&config.Decoder{}, "", "e"))); !slices.Equal(got, entityKeys) {
			t.Errorf("type %s: EntityKeys decodes %q, its schema lists %q", typ, got, entityKeys)
		}
	}
}

// withConnectorTypes returns the schema src with its connector and entity
// objects' properties made of the common ones (those no type declares)
// and each type's, its $defs with the types', and the type enum listing
// the registered types; indented as encoding/json indents.
func withConnectorTypes(src []byte) ([]byte, error) {
	root, err := parseObject(src)
	if err != nil {
		return nil, err
	}
	defs, err := parseObject(root.get("$defs"))
	if err != nil {
		return nil, fmt.Errorf("$defs: %w", err)
	}
	types := connectors.Types()
	owned := map[string]bool{}
	var typeSchemas []map[string]object
	for _, typ := range types {
		spec, _ := connectors.SpecOf(typ)
		parts, err := parseObject(spec.Schema)
		if err != nil {
			return nil, fmt.Errorf("type %s: %w", typ, err)
		}
		schema := map[string]object{}
		for _, part := range []string{"connector", "entity", "$defs"} {
			if raw := parts.get(part); raw != nil {
				if schema[part], err = parseObject(raw); err != nil {
					return nil, fmt.Errorf("type %s: %s: %w", typ, part, err)
				}
			}
			for _, m := range schema[part] {
				owned[part+"/"+m.key] = true
			}
		}
		typeSchemas = append(typeSchemas, schema)
	}
	for _, part := range []string{"connector", "entity"} {
		obj, err := parseObject(defs.get(part))
		if err != nil {
			return nil, fmt.Errorf("$defs/%s: %w", part, err)
		}
		props, err := parseObject(obj.get("properties"))
		if err != nil {
			return nil, fmt.Errorf("$defs/%s/properties: %w", part, err)
		}
		var out object
		for _, m := range props {
			if !owned[part+"/"+m.key] {
				out = append(out, m)
			}
		}
		// A key several types declare (max_pages) is listed once; its
		// declarations must be the same.
		declared := map[string]json.RawMessage{}
		for i, schema := range typeSchemas {
			for _, m := range schema[part] {
				if prev, ok := declared[m.key]; ok {
					if !bytes.Equal(prev, m.value) {
						return nil, fmt.Errorf("%s/%s: type %s declares it otherwise than another type", part, m.key, types[i])
					}
					continue
				}
				declared[m.key] = m.value
				out = append(out, m)
			}
		}
		if part == "connector" {
			if out, err = withTypeEnum(out, types); err != nil {
				return nil, err
			}
		}
		obj.set("properties", out.marshal())
		defs.set(part, obj.marshal())
	}
	for _, schema := range typeSchemas {
		for _, m := range schema["$defs"] {
			defs.set(m.key, m.value)
		}
	}
	root.set("$defs", defs.marshal())
	var b bytes.Buffer
	if err := json.Indent(&b, root.marshal(), "", "  "); err != nil {
		return nil, err
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

// withTypeEnum sets the enum of the connector's type key to types.
func withTypeEnum(props object, types []string) (object, error) {
	typ, err := parseObject(props.get("type"))
	if err != nil {
		return nil, fmt.Errorf("connector type: %w", err)
	}
	enum, _ := json.Marshal(types)
	typ.set("enum", enum)
	props.set("type", typ.marshal())
	return props, nil
}

// object is a JSON object with its keys in order, its values as written.
type object []member

type member struct {
	key   string
	value json.RawMessage
}

func parseObject(raw []byte) (object, error) {
	if raw == nil {
		return nil, fmt.Errorf("missing")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("not a JSON object")
	}
	var out object
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		out = append(out, member{key: tok.(string), value: v})
	}
	return out, nil
}

func (o object) get(key string) json.RawMessage {
	for _, m := range o {
		if m.key == key {
			return m.value
		}
	}
	return nil
}

// set replaces key's value, or adds key at the end.
func (o *object) set(key string, value json.RawMessage) {
	for i := range *o {
		if (*o)[i].key == key {
			(*o)[i].value = value
			return
		}
	}
	*o = append(*o, member{key: key, value: value})
}

func (o object) marshal() json.RawMessage {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(m.key)
		b.Write(k)
		b.WriteByte(':')
		b.Write(m.value)
	}
	b.WriteByte('}')
	return b.Bytes()
}
