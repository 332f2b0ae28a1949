package connectors

import (
	"net/url"
	"strings"

	"github.com/couplerhq/coupler/connectors/redact"
)

// AddSecretsTo makes r scrub every secret c sends: its credentials in the
// forms they travel in (a Basic header encodes "user:password"; an OAuth2
// token request may send "client_id:client_secret" as one, each part
// query-escaped first), and the query parameters of base_url and token_url,
// whose values may be signatures (?sig=…) and whose names are scrubbed
// wherever they appear with another value, as is an api_key's parameter.
func (c Config) AddSecretsTo(r *redact.Redactor) {
	a := c.Auth
	r.AddSecret(a.Token, a.Password, a.Key, a.ClientSecret)
	if a.Password != "" {
		r.AddSecret(a.Username + ":" + a.Password)
	}
	if a.ClientSecret != "" {
		r.AddSecret(a.ClientID+":"+a.ClientSecret, url.QueryEscape(a.ClientID)+":"+url.QueryEscape(a.ClientSecret))
	}
	if a.In == "query" {
		r.AddParam(a.Param)
	}
	for _, raw := range []string{c.BaseURL, a.TokenURL} {
		u, err := url.Parse(raw)
		if err != nil {
			continue
		}
		for name, values := range u.Query() {
			if strings.HasPrefix(name, "$") {
				continue // an OData option ($filter): the protocol's, no secret
			}
			r.AddParam(name)
			r.AddSecret(values...)
		}
	}
}
