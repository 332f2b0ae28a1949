package mappings

import (
	"os"
	"regexp"
	"strings"
)

// envRefRE matches ${NAME} references in project file values.
var envRefRE = regexp.MustCompile(`\$\{([^}]*)\}`)

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Getenv looks up an environment variable; LoadOptions takes one so that
// tests and the demo need not touch the process environment.
type Getenv func(name string) (string, bool)

// expandEnv replaces every ${NAME} in s. Unset or malformed references are
// reported at the value's position; "$${" stands for a literal "${".
func (d *decoder) expandEnv(s string, pos Pos, getenv Getenv) string {
	const escaped = "\x00dollar-brace\x00"
	s = strings.ReplaceAll(s, "$${", escaped)
	out := envRefRE.ReplaceAllStringFunc(s, func(ref string) string {
		name := ref[2 : len(ref)-1]
		if !envNameRE.MatchString(name) {
			d.diags.Errorf(pos, "invalid environment reference %q: names are letters, digits and _", ref)
			return ""
		}
		v, ok := getenv(name)
		if !ok {
			d.diags.Errorf(pos, "environment variable %s is not set", name)
			return ""
		}
		return v
	})
	return strings.ReplaceAll(out, escaped, "${")
}

func osGetenv(name string) (string, bool) { return os.LookupEnv(name) }
