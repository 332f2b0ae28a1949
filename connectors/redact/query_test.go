package redact

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

// TestQuery: every query value but an OData system query option's is
// redacted, in a URL built for an error and in free text alike.
func TestQuery(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"api_token=s3cret", "api_token=REDACTED"},
		{"a=1&b=&c", "a=REDACTED&b=REDACTED&c"},
		// OData's own options ($filter, $skiptoken, …) are the protocol's,
		// never a credential, and say what a failed request asked for.
		{"$filter=no%20eq%20'C1'&sig=s3cret&%24top=5", "$filter=no%20eq%20'C1'&sig=REDACTED&%24top=5"},
	} {
		if got := Query(tc.in); got != tc.want {
			t.Errorf("Query(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	u, _ := url.Parse("https://user:pw@h.example/v1/a%2Fb?api_token=s3cret&page=2#frag")
	if got, want := URL(u), "https://h.example/v1/a%2Fb?api_token=REDACTED&page=REDACTED"; got != want {
		t.Errorf("URL = %q, want %q", got, want)
	}
	if got, want := PathQuery(u), "/v1/a%2Fb?api_token=REDACTED&page=REDACTED"; got != want {
		t.Errorf("PathQuery = %q, want %q", got, want)
	}
	for _, tc := range []struct{ in, want string }{
		{`Get "https://h/v1?api_token=s3cret&x=1": EOF`, `Get "https://h/v1?api_token=REDACTED&x=REDACTED": EOF`},
		{"GET https://h/v1?k=s3cret (status: 500)", "GET https://h/v1?k=REDACTED (status: 500)"},
		{"GET https://h/v1?$top=5&k=s3cret", "GET https://h/v1?$top=5&k=REDACTED"},
		{"no url here", "no url here"},
	} {
		if got := Text(tc.in); got != tc.want {
			t.Errorf("Text(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	err := URLError(&url.Error{Op: "Get", URL: "https://h/?k=s3cret", Err: errors.New("EOF")})
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("URLError: %v", err)
	}
}
