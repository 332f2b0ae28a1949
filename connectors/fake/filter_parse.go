package fake

import "slices"

// Limits that keep a hostile $filter from exhausting the stack or the CPU.
const (
	maxFilterDepth = 100   // nested parentheses, not and function calls
	maxFilterNodes = 10000 // operators, operands and calls, not counting in-list items
)

// resolver maps a field name to its column (-1 when the set has no such
// field, which then reads as null) and reports whether it is the
// server-stamped modified field.
type resolver func(name string) (col int, modified bool)

// parseFilter parses an OData v4 $filter expression into an evaluable tree.
//
// Grammar, loosest binding first:
//
//	or      = and { "or" and }
//	and     = compare { "and" compare }
//	compare = unary { ("eq"|"ne"|"gt"|"ge"|"lt"|"le") unary | "in" "(" literal { "," literal } ")" }
//	unary   = "not" unary | primary
//	primary = "(" or ")" | literal | function "(" [ or { "," or } ] ")" | field
//
// As in the OData ABNF, not binds tighter than the comparisons.
func parseFilter(src string, resolve resolver) (expr, error) {
	return parseFilterRefusing(src, resolve, nil)
}

// parseFilterRefusing is parseFilter for a service that does not implement
// the functions named in refused: using one is an error saying why.
func parseFilterRefusing(src string, resolve resolver, refused map[string]string) (expr, error) {
	p := &parser{lex: lexer{src: src}, resolve: resolve, refused: refused}
	if err := p.advance(); err != nil {
		return nil, err
	}
	x, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tokEOF {
		return nil, errAt(p.tok.pos, "expected an operator or the end of the expression but found %s", p.tok.describe())
	}
	if err := wantBool(x); err != nil {
		return nil, err
	}
	return x, nil
}

type parser struct {
	lex     lexer
	tok     token // current token, not yet consumed
	depth   int
	nodes   int
	resolve resolver
	// refused names functions the service does not implement, with why.
	refused map[string]string
}

func (p *parser) advance() error {
	t, err := p.lex.next()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

// keyword reports whether the current token is the identifier word.
func (p *parser) keyword(word string) bool {
	return p.tok.kind == tokIdent && p.tok.text == word
}

// node counts one tree node against maxFilterNodes.
func (p *parser) node(pos int) error {
	p.nodes++
	if p.nodes > maxFilterNodes {
		return errAt(pos, "expression has more than %d terms", maxFilterNodes)
	}
	return nil
}

// enter and leave bracket a nested construct, bounding recursion.
func (p *parser) enter(pos int) error {
	p.depth++
	if p.depth > maxFilterDepth {
		return errAt(pos, "expression nested more than %d levels deep", maxFilterDepth)
	}
	return nil
}

func (p *parser) leave() { p.depth-- }

func (p *parser) expect(kind tokenKind, what string) error {
	if p.tok.kind != kind {
		return errAt(p.tok.pos, "expected %s but found %s", what, p.tok.describe())
	}
	return p.advance()
}

func (p *parser) parseOr() (expr, error) {
	return p.parseLogic("or", p.parseAnd)
}

func (p *parser) parseAnd() (expr, error) {
	return p.parseLogic("and", p.parseCompare)
}

// parseLogic parses a left-associative chain of and or or.
func (p *parser) parseLogic(word string, operand func() (expr, error)) (expr, error) {
	l, err := operand()
	if err != nil {
		return nil, err
	}
	for p.keyword(word) {
		pos := p.tok.pos
		if err := p.node(pos); err != nil {
			return nil, err
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		r, err := operand()
		if err != nil {
			return nil, err
		}
		if err := wantBool(l); err != nil {
			return nil, err
		}
		if err := wantBool(r); err != nil {
			return nil, err
		}
		l = &logicNode{at: pos, and: word == "and", l: l, r: r}
	}
	return l, nil
}

var compareOps = map[string]cmpOp{"eq": opEq, "ne": opNe, "gt": opGt, "ge": opGe, "lt": opLt, "le": opLe}

func (p *parser) parseCompare() (expr, error) {
	l, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	for p.tok.kind == tokIdent {
		pos := p.tok.pos
		if p.tok.text == "in" {
			if err := p.node(pos); err != nil {
				return nil, err
			}
			if err := p.advance(); err != nil {
				return nil, err
			}
			list, err := p.parseList()
			if err != nil {
				return nil, err
			}
			l = &inNode{at: pos, x: l, list: list}
			continue
		}
		op, ok := compareOps[p.tok.text]
		if !ok {
			break
		}
		if err := p.node(pos); err != nil {
			return nil, err
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		r, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		l = &cmpNode{at: pos, op: op, l: l, r: r}
	}
	return l, nil
}

// parseList parses the parenthesised literal list of an in operator.
func (p *parser) parseList() ([]value, error) {
	if err := p.expect(tokLParen, "'(' after in"); err != nil {
		return nil, err
	}
	var list []value
	for {
		lit, ok, err := p.literal()
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, errAt(p.tok.pos, "expected a literal in the in list but found %s", p.tok.describe())
		}
		list = append(list, lit.v)
		if p.tok.kind == tokRParen {
			return list, p.advance()
		}
		if err := p.expect(tokComma, "',' or ')'"); err != nil {
			return nil, err
		}
	}
}

func (p *parser) parseUnary() (expr, error) {
	if !p.keyword("not") {
		return p.parsePrimary()
	}
	pos := p.tok.pos
	if err := p.enter(pos); err != nil {
		return nil, err
	}
	defer p.leave()
	if err := p.node(pos); err != nil {
		return nil, err
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	x, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	if err := wantBool(x); err != nil {
		return nil, err
	}
	return &notNode{at: pos, x: x}, nil
}

// reserved words cannot name a field.
var reserved = []string{"and", "or", "not", "eq", "ne", "gt", "ge", "lt", "le", "in", "has", "add", "sub", "mul", "div", "mod"}

func (p *parser) parsePrimary() (expr, error) {
	pos := p.tok.pos
	if err := p.node(pos); err != nil {
		return nil, err
	}
	if p.tok.kind == tokLParen {
		if err := p.enter(pos); err != nil {
			return nil, err
		}
		defer p.leave()
		if err := p.advance(); err != nil {
			return nil, err
		}
		x, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		return x, p.expect(tokRParen, "')'")
	}
	if lit, ok, err := p.literal(); ok || err != nil {
		return lit, err
	}
	if p.tok.kind != tokIdent {
		return nil, errAt(pos, "expected an operand but found %s", p.tok.describe())
	}
	name := p.tok.text
	if slices.Contains(reserved, name) {
		return nil, errAt(pos, "expected an operand but found '%s'", name)
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	if p.tok.kind == tokLParen {
		return p.parseCall(name, pos)
	}
	col, mod := p.resolve(name)
	return &fieldNode{at: pos, name: name, col: col, modified: mod}, nil
}

// literal consumes a literal token if the current token is one.
func (p *parser) literal() (*litNode, bool, error) {
	t := p.tok
	var v value
	switch t.kind {
	case tokString:
		v = value{k: kindString, s: t.text}
	case tokNumber:
		v = numberValue(t.text)
	case tokDateTime:
		v = value{k: kindTime, t: t.time}
	case tokGUID:
		v = value{k: kindGUID, s: t.text}
	case tokIdent:
		switch t.text {
		case "true":
			v = trueValue
		case "false":
			v = falseValue
		case "null":
			v = nullValue
		default:
			return nil, false, nil
		}
	default:
		return nil, false, nil
	}
	return &litNode{at: t.pos, v: v}, true, p.advance()
}

// parseCall parses the arguments of function name, whose '(' is current.
func (p *parser) parseCall(name string, pos int) (expr, error) {
	fn, ok := functions[name]
	if !ok {
		return nil, errAt(pos, "unknown function '%s'", name)
	}
	if why, refused := p.refused[name]; refused {
		return nil, errAt(pos, "the function '%s' is not supported: %s", name, why)
	}
	if err := p.enter(pos); err != nil {
		return nil, err
	}
	defer p.leave()
	if err := p.advance(); err != nil {
		return nil, err
	}
	var args []expr
	for p.tok.kind != tokRParen {
		if len(args) > 0 {
			if err := p.expect(tokComma, "',' or ')'"); err != nil {
				return nil, err
			}
		}
		a, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		if !a.typ().stringish() {
			return nil, errAt(a.pos(), "%s expects string arguments", name)
		}
		args = append(args, a)
	}
	if len(args) != fn.arity {
		return nil, errAt(pos, "%s takes %d argument(s), not %d", name, fn.arity, len(args))
	}
	return &callNode{at: pos, name: name, fn: fn, args: args}, p.advance()
}

// wantBool rejects operands that can never be true or false, such as a
// string literal used as a condition.
func wantBool(x expr) error {
	if t := x.typ(); t != typeBool && t != typeAny {
		return errAt(x.pos(), "expected a condition but found a %s", t)
	}
	return nil
}
