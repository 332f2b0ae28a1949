package redact

import (
	"bytes"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"testing"
)

func TestRedactorString(t *testing.T) {
	const secret = "planted/SECRET+1=ä"
	r := New()
	r.AddSecret(secret, "app:"+secret, "abc") // "abc" is too short to scrub
	r.AddParam("sig", "api_token")
	for _, tc := range []struct{ name, in, want string }{
		{"as it is", "401: token " + secret + " expired", "401: token REDACTED expired"},
		{"basic header", "got Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("app:"+secret)), "got Authorization: Basic REDACTED"},
		{"base64 url", "k=" + base64.RawURLEncoding.EncodeToString([]byte(secret)), "k=REDACTED"},
		{"query escaped", "next: /a?key=" + url.QueryEscape(secret) + "&$top=5", "next: /a?key=REDACTED&$top=5"},
		{"lower-case escapes", "x " + strings.ToLower(url.QueryEscape(secret)), "x REDACTED"},
		{"json string", `{"echo":"planted/SECRET+1=ä"}`, `{"echo":"REDACTED"}`},
		{"html escaped", "<p>planted/SECRET+1=ä</p>", "<p>REDACTED</p>"},
		{"a secret param of unknown value", "GET https://h/x?sig=2024-rotated&sp=r", "GET https://h/x?sig=REDACTED&sp=r"},
		{"a param at the start", "api_token=other-value is wrong", "api_token=REDACTED is wrong"},
		{"not a longer name", "xsig=1 designated=2", "xsig=1 designated=2"},
		{"short values stay", "abc def", "abc def"},
	} {
		if got := r.String(tc.in); got != tc.want {
			t.Errorf("%s: String(%q) = %q, want %q", tc.name, tc.in, got, tc.want)
		}
	}
	var nilR *Redactor
	if got := nilR.String(secret); got != secret {
		t.Errorf("a nil Redactor changed %q to %q", secret, got)
	}
}

// TestRedactorHandler: a log record's message, string and error values
// and groups are scrubbed; numbers stay numbers.
func TestRedactorHandler(t *testing.T) {
	r := New()
	var b bytes.Buffer
	log := slog.New(r.Handler(slog.NewJSONHandler(&b, nil)))
	r.AddSecret("planted-TOKEN-1") // after the logger was made: reloads add secrets
	log.With("pre", "planted-TOKEN-1").WithGroup("g").Error("failed with planted-TOKEN-1",
		"err", errors.New("401: planted-TOKEN-1"), "n", 3, "any", struct{ S string }{"planted-TOKEN-1"},
		slog.Group("inner", "s", "planted-TOKEN-1"))
	out := b.String()
	if strings.Contains(out, "planted-TOKEN") {
		t.Errorf("log holds the secret: %s", out)
	}
	if !strings.Contains(out, `"n":3`) {
		t.Errorf("a number lost its type: %s", out)
	}
}
