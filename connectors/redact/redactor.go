// Package redact keeps coupler's secrets out of what it stores, logs,
// prints and renders. A server's error body may echo what it was sent (a
// bearer token, an API key, a Basic header, a client secret, a signed
// URL), and coupler copies error bodies into run records, logs, stderr
// and serve's page. Coupler knows every secret it sends, so one Redactor,
// filled from the project's connector settings and with the OAuth2 tokens
// as they are fetched, scrubs each of them, in the encodings it travels in,
// from every such string.
//
// The query functions (Query, URL, PathQuery, Text) redact the query
// values of URLs that connectors put in their errors; they need no
// Redactor, since which parameters are secret cannot be told from a URL.
package redact

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"log/slog"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// MinSecretLen is the shortest secret scrubbed. A shorter one would
// scrub ordinary words from every message, and is no secret worth the
// name.
const MinSecretLen = 4

// Redactor scrubs known secret values, and the values of query parameters
// known to carry secrets, from text. It is safe for concurrent use; secrets
// are only ever added, so that a project reloaded with a new credential
// keeps the old one scrubbed too. A nil *Redactor scrubs nothing.
type Redactor struct {
	mu       sync.RWMutex
	forms    map[string]bool // each secret in each encoding
	params   map[string]bool
	replacer *strings.Replacer
	paramRE  *regexp.Regexp
}

// New returns a Redactor that knows no secret yet.
func New() *Redactor {
	return &Redactor{forms: map[string]bool{}, params: map[string]bool{}}
}

// AddSecret makes r scrub each value, as it is and in every encoding it may
// travel or be echoed in: base64 (standard and URL alphabets, padded or
// not: a Basic header, a server quoting one), URL query and path escaping,
// JSON string escaping and HTML escaping. Values shorter than MinSecretLen
// are ignored.
func (r *Redactor) AddSecret(values ...string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	changed := false
	for _, v := range values {
		if len(v) < MinSecretLen {
			continue
		}
		for _, f := range encodings(v) {
			if !r.forms[f] {
				r.forms[f], changed = true, true
			}
		}
	}
	if !changed {
		return
	}
	// Longest first: strings.Replacer tries the old strings in argument
	// order at each position, so a secret that contains another is
	// replaced whole.
	forms := make([]string, 0, len(r.forms))
	for f := range r.forms {
		forms = append(forms, f)
	}
	slices.SortFunc(forms, func(a, b string) int { return cmp.Or(len(b)-len(a), strings.Compare(a, b)) })
	pairs := make([]string, 0, 2*len(forms))
	for _, f := range forms {
		pairs = append(pairs, f, Redacted)
	}
	r.replacer = strings.NewReplacer(pairs...)
}

// encodings returns v in each form a secret may be seen in.
func encodings(v string) []string {
	b := []byte(v)
	q := url.QueryEscape(v)
	j, _ := json.Marshal(v)
	out := []string{v,
		base64.StdEncoding.EncodeToString(b), base64.RawStdEncoding.EncodeToString(b),
		base64.URLEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b),
		q, strings.ReplaceAll(q, "+", "%20"), url.PathEscape(v),
		string(j[1 : len(j)-1]), html.EscapeString(v)}
	if lower := strings.ToLower(q); lower != q {
		out = append(out, lower) // percent-encoding in lower-case hex
	}
	return out
}

// AddParam makes r scrub the value of each named query parameter wherever
// "name=value" appears, for parameters that carry a secret whose value may
// change (auth in: query, a signature in base_url).
func (r *Redactor) AddParam(names ...string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	changed := false
	for _, n := range names {
		if n != "" && !r.params[n] {
			r.params[n], changed = true, true
		}
	}
	if !changed {
		return
	}
	var alts []string
	for n := range r.params {
		alts = append(alts, regexp.QuoteMeta(n), regexp.QuoteMeta(url.QueryEscape(n)))
	}
	slices.Sort(alts)
	alts = slices.Compact(alts)
	// The name must start a parameter, not end a longer one: "sig" is not
	// "xsig".
	r.paramRE = regexp.MustCompile(`(^|[^A-Za-z0-9_.~%-])(` + strings.Join(alts, "|") + `)=([^&\s"'#<>,;]*)`)
}

// String returns s with every known secret, and the value of every known
// secret parameter, replaced by Redacted.
func (r *Redactor) String(s string) string {
	if r == nil || s == "" {
		return s
	}
	r.mu.RLock()
	replacer, paramRE := r.replacer, r.paramRE
	r.mu.RUnlock()
	if replacer != nil {
		s = replacer.Replace(s)
	}
	if paramRE != nil {
		s = paramRE.ReplaceAllString(s, "${1}${2}="+Redacted)
	}
	return s
}

// Strings scrubs each of ss in place and returns it.
func (r *Redactor) Strings(ss []string) []string {
	for i, s := range ss {
		ss[i] = r.String(s)
	}
	return ss
}

// Handler returns a slog.Handler that scrubs each record's message and
// attributes (strings, errors, and any value whose text holds a secret)
// before next handles it.
func (r *Redactor) Handler(next slog.Handler) slog.Handler {
	if h, ok := next.(*handler); ok && h.r == r {
		return h
	}
	return &handler{r: r, next: next}
}

type handler struct {
	r    *Redactor
	next slog.Handler
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *handler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, h.r.String(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	scrubbed := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		scrubbed[i] = h.attr(a)
	}
	return &handler{r: h.r, next: h.next.WithAttrs(scrubbed)}
}

func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{r: h.r, next: h.next.WithGroup(name)}
}

// attr scrubs one attribute. A value of another kind than string, error
// or group keeps its type unless its text holds a secret, so that counts
// and durations stay numbers in JSON logs.
func (h *handler) attr(a slog.Attr) slog.Attr {
	a.Value = a.Value.Resolve()
	switch a.Value.Kind() {
	case slog.KindString:
		a.Value = slog.StringValue(h.r.String(a.Value.String()))
	case slog.KindGroup:
		group := a.Value.Group()
		scrubbed := make([]slog.Attr, len(group))
		for i, g := range group {
			scrubbed[i] = h.attr(g)
		}
		a.Value = slog.GroupValue(scrubbed...)
	case slog.KindAny:
		v := a.Value.Any()
		if err, ok := v.(error); ok {
			a.Value = slog.StringValue(h.r.String(err.Error()))
			break
		}
		text := fmt.Sprintf("%+v", v)
		if s := h.r.String(text); s != text {
			a.Value = slog.StringValue(s)
		}
	}
	return a
}
