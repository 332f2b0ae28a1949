package engine_test

import (
	"bytes"
	"encoding/base64"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/couplerhq/coupler/connectors/fake"
	"github.com/couplerhq/coupler/engine"
	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/engine/report"
	"github.com/couplerhq/coupler/mappings"
)

// TestSecretsStayOut plants secrets of every auth type in the environment
// (a bearer token, an OAuth2 client secret, a basic password and an API key)
// and greps everything coupler writes for them: logs at debug level, errors,
// plans in every format, and the state database file.
func TestSecretsStayOut(t *testing.T) {
	const token, secret = "planted-TOKEN-7f3a", "planted-SECRET-91c2"
	const password, apiKey = "planted-PASSWORD-2d8e", "planted-APIKEY-c06b"
	for _, tc := range []struct {
		name, bcAuth, crmAuth string
		secrets               []string
	}{
		{"bearer and oauth2", `{ type: bearer, token: "${BC_TOKEN}" }`,
			`{ type: oauth2, token_url: "${TOKEN_URL}", client_id: app, client_secret: "${CLIENT_SECRET}", scopes: [x] }`,
			[]string{token, secret}},
		{"basic and api_key", `{ type: basic, username: app, password: "${BC_PASSWORD}" }`,
			`{ type: api_key, header: X-API-Key, key: "${API_KEY}" }`,
			// The basic header is base64 of "app:password"; look for that too.
			[]string{password, apiKey, base64.StdEncoding.EncodeToString([]byte("app:" + password))}},
		// A key sent as a query parameter is in every request URL the
		// server sees, and servers echo it in next links: URLs in errors
		// and logs must show the parameter's name only.
		{"api_key in query", `{ type: bearer, token: "${BC_TOKEN}" }`,
			`{ type: api_key, in: query, param: api_token, key: "${API_KEY}" }`,
			[]string{token, apiKey}},
	} {
		t.Run(tc.name, func(t *testing.T) { secretsStayOut(t, tc.bcAuth, tc.crmAuth, tc.secrets) })
	}
}

func secretsStayOut(t *testing.T, bcAuth, crmAuth string, secrets []string) {
	const token, secret = "planted-TOKEN-7f3a", "planted-SECRET-91c2"
	const password, apiKey = "planted-PASSWORD-2d8e", "planted-APIKEY-c06b"
	erp, crm := fake.NewERP(), fake.NewCRM()
	if err := fake.SeedCustomers(erp, 5); err != nil {
		t.Fatal(err)
	}
	erpSrv := httptest.NewServer(http.StripPrefix("/api/v2.0", erp))
	var keyInQuery atomic.Int64 // requests that carried the key as a query parameter
	crmSrv := httptest.NewServer(http.StripPrefix("/api/data/v9.2", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("api_token") == apiKey {
			keyInQuery.Add(1)
		}
		crm.ServeHTTP(w, r)
	})))
	defer erpSrv.Close()
	defer crmSrv.Close()
	// The CRM's token endpoint hands out the planted token for the planted
	// secret.
	tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"access_token":"` + token + `","token_type":"Bearer","expires_in":3600}`))
	}))
	defer tokens.Close()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "coupler.yaml"), `version: 1
connectors:
  bc: { type: odata, base_url: "${BC_URL}", max_retries: 2, auth: `+bcAuth+` }
  dataverse:
    type: odata
    base_url: "${DATAVERSE_URL}"
    max_retries: 2
    auth: `+crmAuth+`
mappings: ["mappings/*.yaml"]
`)
	mapping, err := os.ReadFile("testdata/customer.yaml")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "mappings", "customer.yaml"), string(mapping))
	env := map[string]string{"BC_URL": fake.BCCompanyURL(erpSrv.URL + "/api/v2.0"), "DATAVERSE_URL": crmSrv.URL + "/api/data/v9.2",
		"BC_TOKEN": token, "TOKEN_URL": tokens.URL, "CLIENT_SECRET": secret, "BC_PASSWORD": password, "API_KEY": apiKey}
	var logs bytes.Buffer
	e, diags, err := engine.OpenProject(t.Context(), dir, mappings.LoadOptions{Getenv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }},
		engine.Options{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatalf("%v\n%v", err, diags)
	}
	var seen bytes.Buffer
	// Retries, a throttle and a stale write make the code paths that log
	// and report errors run.
	crm.Throttle(1, 0)
	p, err := e.Plan(t.Context(), engine.PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Apply(t.Context(), p.ID); err != nil {
		seen.WriteString(err.Error())
	}
	target := erp.All("customers")[1]
	if err := erp.Patch("customers", target["id"].(string), map[string]any{"city": "Elsewhere"}); err != nil {
		t.Fatal(err)
	}
	p2, err := e.Plan(t.Context(), engine.PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range crm.All("accounts") {
		_ = crm.Patch("accounts", a["accountid"].(string), map[string]any{"name": "changed meanwhile"})
	}
	res, err := e.Apply(t.Context(), p2.ID)
	if err != nil {
		seen.WriteString(err.Error())
	}
	for _, f := range res.Failures {
		seen.WriteString(f.Message)
	}
	for _, id := range []string{p.ID, p2.ID} {
		full, err := e.State().LoadPlan(t.Context(), id, -1, plan.Kinds...)
		if err != nil {
			t.Fatal(err)
		}
		for _, render := range []func(*bytes.Buffer) error{
			func(b *bytes.Buffer) error { return report.PlanText(b, full) },
			func(b *bytes.Buffer) error { return report.PlanJSON(b, full) },
			func(b *bytes.Buffer) error { return report.PlanMarkdown(b, full) },
			func(b *bytes.Buffer) error { return report.PlanHTML(b, full) },
		} {
			if err := render(&seen); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	state, err := os.ReadFile(filepath.Join(dir, ".coupler", "state.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(crmAuth, "in: query") && keyInQuery.Load() == 0 {
		t.Error("no request carried the api_key in the query")
	}
	if len(res.Failures) == 0 || logs.Len() == 0 {
		t.Fatalf("the test did not exercise failures (%d) and logs (%d bytes)", len(res.Failures), logs.Len())
	}
	for name, data := range map[string][]byte{"logs": logs.Bytes(), "errors and reports": seen.Bytes(), "state database": state} {
		for _, s := range secrets {
			if bytes.Contains(data, []byte(s)) {
				i := bytes.Index(data, []byte(s))
				t.Errorf("%s contain the secret %q: …%s…", name, s, strings.ToValidUTF8(string(data[max(0, i-60):min(len(data), i+40)]), "?"))
			}
		}
	}
}
