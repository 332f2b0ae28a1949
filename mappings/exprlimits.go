package mappings

import (
	"fmt"

	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/parser/lexer"
)

// Limits on an expression's text, checked before expr-lang parses it.
const (
	// maxExprDepth bounds how deeply an expression nests brackets and
	// prefix operators. expr-lang's parser recurses once (several frames)
	// per level before it creates a node, so its node limit does not
	// bound that recursion, and a million parentheses overflow the
	// goroutine stack: a fatal error no recover catches. Hand-written
	// expressions rarely nest ten levels.
	maxExprDepth = 100
	// maxExprLen bounds an expression's text in bytes; a longer one is a
	// generated or hostile file, not a transformation rule.
	maxExprLen = 64 << 10
)

// checkLimits reports an expression longer than maxExprLen or nested
// deeper than maxExprDepth, as a diagnostic at the offending character;
// nil when neither. It reads the text with expr-lang's own lexer, which
// does not recurse, so that brackets in strings and comments count as the
// parser will see them: not at all. A text the lexer refuses is left to
// the compiler to report.
func (e Expr) checkLimits() *Diagnostic {
	if len(e.Source) > maxExprLen {
		return &Diagnostic{Severity: Error, Pos: e.Pos,
			Message: fmt.Sprintf("expression: %d bytes long, more than the limit of %d", len(e.Source), maxExprLen)}
	}
	src := file.NewSource(e.Source)
	l := lexer.New()
	l.Reset(src)
	// depth counts the open brackets and, for each, the prefix operators
	// still applying inside it (unary[i]); an operand ends a prefix
	// operator's reach at the next binary operator or comma, as the
	// parser's recursion for it returns there (or earlier, which only
	// makes the count cautious).
	depth := 0
	unary := []int{0}
	prefix := true // the next token starts an operand
	for {
		tok, err := l.Next()
		if err != nil || tok.Kind == lexer.EOF {
			return nil
		}
		top := len(unary) - 1
		switch {
		case tok.Kind == lexer.Bracket && (tok.Value == "(" || tok.Value == "[" || tok.Value == "{"):
			depth++
			unary = append(unary, 0)
			prefix = true
		case tok.Kind == lexer.Bracket:
			depth -= unary[top]
			if top > 0 {
				unary = unary[:top]
				depth--
			} else {
				unary[0] = 0 // unbalanced: the parser reports it
			}
			prefix = false
		case tok.Kind == lexer.Operator && prefix && isPrefixOperator(tok.Value):
			depth++
			unary[top]++
		case tok.Kind == lexer.Operator:
			depth -= unary[top]
			unary[top] = 0
			prefix = true
		default:
			prefix = false
		}
		if depth > maxExprDepth {
			fe := &file.Error{Location: tok.Location, Message: fmt.Sprintf(
				"nested more than %d levels deep (brackets and prefix operators such as ! and -); simplify it, e.g. with let", maxExprDepth)}
			return e.diagnostic(fe.Bind(src))
		}
	}
}

// isPrefixOperator reports whether op is one of expr-lang's unary
// operators.
func isPrefixOperator(op string) bool {
	return op == "!" || op == "-" || op == "+" || op == "not"
}
