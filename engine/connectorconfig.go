package engine

import (
	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/mappings"
)

// ConnectorConfig returns the settings that connectors.New builds the
// connector declared by c from.
func ConnectorConfig(c *mappings.Connector) connectors.Config {
	return connectors.Config{
		Name: c.Name, Type: c.Type, BaseURL: c.BaseURL, EntityPath: c.EntityPath, PageSize: c.PageSize,
		MaxConcurrency: c.MaxConcurrency, Timeout: c.Timeout, MaxRetries: c.MaxRetries,
		RateLimit: c.RateLimit, BatchSize: c.BatchSize, CAFile: c.CAFile,
		Auth: connectors.Auth{Type: c.Auth.Type, Token: c.Auth.Token, TokenURL: c.Auth.TokenURL,
			ClientID: c.Auth.ClientID, ClientSecret: c.Auth.ClientSecret, Scopes: c.Auth.Scopes,
			Username: c.Auth.Username, Password: c.Auth.Password, Header: c.Auth.Header, Key: c.Auth.Key,
			In: c.Auth.In, Param: c.Auth.Param},
		Resources: resources(c.Entities),
		// Added for issue 6b (alternate keys, change sets).
		AlternateKeys: alternateKeys(c.Entities), Atomicity: c.Atomicity,
		BatchFormat: c.BatchFormat,
		// Added for issue 12 (polymorphic lookups): the connector owns how
		// a lookup is written and read.
		Lookups: lookupsMode(c.Lookups),
	}
}

// lookupsMode is the connectors.Config.Lookups of a project's lookups
// setting.
func lookupsMode(lookups string) string {
	if lookups == mappings.LookupsBind {
		return connectors.LookupsBind
	}
	return ""
}

// alternateKeys collects the alternate keys of the declared entities.
func alternateKeys(entities map[string]*mappings.EntityDecl) map[string]connectors.AlternateKey {
	var out map[string]connectors.AlternateKey
	for name, e := range entities {
		if len(e.AlternateKey) == 0 {
			continue
		}
		if out == nil {
			out = map[string]connectors.AlternateKey{}
		}
		out[name] = connectors.AlternateKey{Fields: e.AlternateKey, Types: e.KeyTypes, LookupKey: e.LookupKey}
	}
	return out
}

// resources collects the rest settings of the declared entities.
func resources(entities map[string]*mappings.EntityDecl) map[string]connectors.Resource {
	var out map[string]connectors.Resource
	for name, e := range entities {
		if e.Resource == nil {
			continue
		}
		if out == nil {
			out = map[string]connectors.Resource{}
		}
		out[name] = *e.Resource
	}
	return out
}
