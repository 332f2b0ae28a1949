package mappings

import "github.com/expr-lang/expr"

// functions are the helper functions every expression can call, on top of
// expr-lang's builtins (trim, upper, lower, ...).
func functions() []expr.Option {
	return []expr.Option{
		expr.Function("coalesce", func(args ...any) (any, error) {
			for _, a := range args {
				if a != nil {
					return a, nil
				}
			}
			return nil, nil
		}),
	}
}
