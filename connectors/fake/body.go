package fake

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/couplerhq/coupler/connectors"
)

// maxBody bounds a request body; the real services refuse far smaller ones.
const maxBody = 16 << 20

// member is one property of a JSON object, its value kept as JSON.
type member struct {
	name string
	raw  []byte
}

// decodeObject reads one JSON object, keeping its members in document order
// so that new fields are registered in the order the client wrote them.
// Trailing data after the object is an error.
func decodeObject(r io.Reader) ([]member, error) {
	dec := json.NewDecoder(r)
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errors.New("the request body must be a JSON object")
	}
	var ms []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		name, _ := tok.(string) // inside an object the decoder only yields string keys
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, err
		}
		ms = append(ms, member{name: name, raw: raw})
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("unexpected data after the JSON object")
	}
	return ms, nil
}

// recordMembers turns a Go record into members, in name order so that new
// fields are registered deterministically.
func recordMembers(rec connectors.Record) ([]member, error) {
	names := make([]string, 0, len(rec))
	for n := range rec {
		names = append(names, n)
	}
	slices.Sort(names)
	ms := make([]member, 0, len(names))
	for _, n := range names {
		lit, err := encodeLiteral(rec[n])
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", n, err)
		}
		ms = append(ms, member{name: n, raw: []byte(lit)})
	}
	return ms, nil
}

// write is a record's worth of changes, ready for the store.
type write struct {
	key    string // normalised; "" when the body carries none
	assign []assign
	// altBinds are the lookups bound by an alternate key of their target
	// set, resolved to the target's primary key by resolveBinds.
	altBinds []altBind
	// binds are the lookups bound by the target's primary key, whose
	// target resolveBinds checks when checkTargets is set.
	binds []boundRef
	// checkTargets makes resolveBinds refuse a binding to a record that
	// does not exist, as the Web API does; writes through the Go API
	// (seeding) may bind records made later.
	checkTargets bool
}

// boundRef is the target of a lookup binding by primary key:
// "x@odata.bind": "/accounts(<id>)".
type boundRef struct {
	set, key string
}

// altBind is a lookup bound by an alternate key: "x@odata.bind":
// "/accounts(accountnumber='A-1')".
type altBind struct {
	assign int // index in write.assign
	set    string
	key    namedKey
}

// toWrite applies the server's rules to the members a client sent:
//   - the key must be a string (or null, meaning "generate one");
//   - the modified field is the server's and is ignored;
//   - "x@odata.bind": "/set(id)" is stored as "_x_value": "id", the way
//     Dataverse stores lookups, with the target's logical name beside it;
//     a multi-table lookup takes only its per-target bindings (lookups.go);
//   - other instance annotations (name@odata.etag, @odata.type, ...) are
//     ignored, so a client may send back what it read.
func (t *table) toWrite(ms []member) (write, error) {
	var w write
	for _, m := range ms {
		switch {
		case m.name == "":
			return w, badRequest("a property name is empty")
		case strings.HasSuffix(m.name, "@odata.bind"):
			nav := strings.TrimSuffix(m.name, "@odata.bind")
			if nav == "" || strings.Contains(nav, "@") {
				return w, badRequest("invalid lookup binding %q", m.name)
			}
			target, err := bindTarget(m.raw)
			if err != nil {
				return w, badRequest("lookup %s: %v", m.name, err)
			}
			lit := "null"
			if target != nil {
				lit = quote(target.key)
			}
			as, err := t.bindAssigns(nav, m.raw, lit)
			if err != nil {
				return w, err
			}
			if set, named, ok := bindNamedKey(m.raw); ok {
				w.altBinds = append(w.altBinds, altBind{assign: len(w.assign), set: set, key: named})
			} else if target != nil {
				w.binds = append(w.binds, *target)
			}
			w.assign = append(w.assign, as...)
		case strings.Contains(m.name, "@"):
			// An annotation: not data.
		case m.name == t.def.Modified:
			// Server-owned: clients cannot back-date or forge it.
		case m.name == t.def.Key:
			if string(m.raw) == "null" {
				continue
			}
			var key string
			if err := json.Unmarshal(m.raw, &key); err != nil {
				return w, badRequest("the key %s must be a string", m.name)
			}
			w.key = normKey(key)
		default:
			lit, err := normaliseLiteral(m.raw)
			if err != nil {
				return w, badRequest("property %s: %v", m.name, err)
			}
			w.assign = append(w.assign, assign{name: m.name, lit: lit})
			if strings.HasPrefix(m.name, "_") && strings.HasSuffix(m.name, "_value") {
				// A lookup property set as it is read (the Go API does
				// that; the Web API computes it): which table it points to
				// is no longer known.
				w.assign = append(w.assign, assign{name: m.name + lookupLogicalName})
			}
		}
	}
	return w, nil
}

// bindTarget reads the value of an @odata.bind ("/accounts(<id>)", with or
// without the leading slash or a service root in front): the set and the
// key it references, nil for null, which clears the lookup.
func bindTarget(raw []byte) (*boundRef, error) {
	if string(raw) == "null" {
		return nil, nil
	}
	var ref string
	if err := json.Unmarshal(raw, &ref); err != nil {
		return nil, errors.New("the value must be a string such as \"/accounts(<id>)\"")
	}
	// The set name is the last path segment before the key's parenthesis;
	// the key itself may contain slashes.
	open := strings.IndexByte(ref, '(')
	if open < 0 {
		return nil, fmt.Errorf("%q is not an entity reference such as \"/accounts(<id>)\"", ref)
	}
	seg := ref[strings.LastIndexByte(ref[:open], '/')+1:]
	set, key, hasKey, err := splitKeySegment(seg)
	if err != nil || !hasKey || set == "" {
		return nil, fmt.Errorf("%q is not an entity reference such as \"/accounts(<id>)\"", ref)
	}
	return &boundRef{set: set, key: key}, nil
}

// bindNamedKey returns the set and the key of a binding written with names
// ("/accounts(accountnumber='A-1')"), which may name an alternate key.
func bindNamedKey(raw []byte) (set string, k namedKey, ok bool) {
	var ref string
	if json.Unmarshal(raw, &ref) != nil || !strings.HasSuffix(ref, ")") {
		return "", nil, false
	}
	open := strings.IndexByte(ref, '(')
	if open < 0 {
		return "", nil, false
	}
	set = ref[strings.LastIndexByte(ref[:open], '/')+1 : open]
	k, named, err := parseNamedKey(ref[open+1 : len(ref)-1])
	if err != nil || !named {
		return "", nil, false
	}
	return set, k, true
}

// resolveBinds stores a lookup bound by an alternate key the way Dataverse
// does: as the target record's primary key, which is what "_x_value" reads
// back as. A binding to a set the server does not have, or by its primary
// key, is stored as written; one by an alternate key that addresses no
// record fails the write, as in Dataverse. It must be called without the
// lock held.
func (s *Server) resolveBinds(w *write) error {
	if w.checkTargets {
		if err := s.checkBindTargets(w.binds); err != nil {
			return err
		}
	}
	for _, b := range w.altBinds {
		t, ok := s.tables[b.set]
		if !ok || b.key.primary(t) {
			continue
		}
		key, err := s.resolveAlternate(t, b.key)
		if err != nil {
			return err
		}
		w.assign[b.assign].lit = quote(key)
	}
	return nil
}

// checkBindTargets refuses a binding to a record of a served set that does
// not exist, as Dataverse does: 404 with "<table> With Id = <id> Does Not
// Exist", error code 0x80040217 (ObjectDoesNotExist, -2147220969, in the
// Dataverse SDK reference, ObjectNotFoundException.
// ObjectDoesNotExistErrorCode). A binding to a set the server does not
// serve is stored as written.
func (s *Server) checkBindTargets(binds []boundRef) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, b := range binds {
		t, ok := s.tables[b.set]
		if !ok {
			continue
		}
		if _, ok := t.rows[normKey(b.key)]; !ok {
			e := errorf(http.StatusNotFound, codeObjectDoesNotExist, "%s With Id = %s Does Not Exist", t.logicalName(b.set), b.key)
			return e
		}
	}
	return nil
}
