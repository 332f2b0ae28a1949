package engine_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
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
	t.Parallel()
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

// TestPlantedSecretsEchoed: servers that echo what they were sent in their
// error bodies (the Authorization header, an API key header, the request
// URL with a signature and an api_key in its query, an OAuth2 access
// token) make every write fail with a message holding a secret. Nothing
// coupler stores (run records, as coupler errors lists them), logs or
// hands to what prints its errors (the engine's Redactor) may hold one, in
// any encoding. An OAuth2 token endpoint that redirects to another host
// gets no client secret sent there.
func TestPlantedSecretsEchoed(t *testing.T) {
	t.Parallel()
	const token, secret = "planted-TOKEN-e41b", "planted-SECRET-0a9f"
	const password, apiKey, sig = "planted-PASSWORD-66d1", "planted-APIKEY-3b70", "planted-SIG-c2d4"
	basic := base64.StdEncoding.EncodeToString([]byte("app:" + password))
	for _, tc := range []struct {
		name, crmAuth, crmQuery string
		secrets                 []string
		redirect                bool // the token endpoint redirects to another host
	}{
		{"basic", `{ type: basic, username: app, password: "${PASSWORD}" }`, "", []string{password, basic}, false},
		{"api_key header", `{ type: api_key, header: X-API-Key, key: "${API_KEY}" }`, "", []string{apiKey}, false},
		{"bearer", `{ type: bearer, token: "${TOKEN}" }`, "", []string{token}, false},
		// The access token is fetched while coupler runs: the Redactor
		// learns it then.
		{"oauth2", `{ type: oauth2, token_url: "${TOKEN_URL}", client_id: app, client_secret: "${CLIENT_SECRET}" }`, "", []string{token, secret}, false},
		{"query string", `{ type: api_key, in: query, param: api_token, key: "${API_KEY}" }`, "?sig=" + sig, []string{apiKey, sig}, false},
		{"oauth2 redirect", `{ type: oauth2, token_url: "${TOKEN_URL}", client_id: app, client_secret: "${CLIENT_SECRET}" }`, "", []string{secret}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			erp, crm := fake.NewERP(), fake.NewCRM()
			if err := fake.SeedCustomers(erp, 3); err != nil {
				t.Fatal(err)
			}
			erpSrv := httptest.NewServer(http.StripPrefix("/api/v2.0", erp))
			defer erpSrv.Close()
			// Every write is refused with a message echoing the request.
			crmSrv := httptest.NewServer(http.StripPrefix("/api/data/v9.2", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodGet {
					crm.ServeHTTP(w, r)
					return
				}
				echo := fmt.Sprintf("request %s %s refused; Authorization: %s; X-API-Key: %s", r.Method, r.URL.String(),
					r.Header.Get("Authorization"), r.Header.Get("X-API-Key"))
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusBadRequest)
				json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": "0x80040265", "message": echo}})
			})))
			defer crmSrv.Close()
			var stolen atomic.Int64
			elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				if bytes.Contains(b, []byte(secret)) || r.Header.Get("Authorization") != "" {
					stolen.Add(1)
				}
				w.Header().Set("Content-Type", "application/json")
				w.Write([]byte(`{"access_token":"stolen","token_type":"Bearer","expires_in":3600}`))
			}))
			defer elsewhere.Close()
			tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.redirect {
					http.Redirect(w, r, elsewhere.URL+"/token", http.StatusTemporaryRedirect)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				w.Write([]byte(`{"access_token":"` + token + `","token_type":"Bearer","expires_in":3600}`))
			}))
			defer tokens.Close()
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "coupler.yaml"), `version: 1
connectors:
  bc: { type: odata, base_url: "${BC_URL}", max_retries: 0 }
  dataverse: { type: odata, base_url: "${DATAVERSE_URL}", max_retries: 0, auth: `+tc.crmAuth+` }
mappings: ["mappings/*.yaml"]
`)
			mapping, err := os.ReadFile("testdata/customer.yaml")
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(dir, "mappings", "customer.yaml"), string(mapping))
			env := map[string]string{"BC_URL": fake.BCCompanyURL(erpSrv.URL + "/api/v2.0"), "DATAVERSE_URL": crmSrv.URL + "/api/data/v9.2" + tc.crmQuery,
				"TOKEN": token, "TOKEN_URL": tokens.URL, "CLIENT_SECRET": secret, "PASSWORD": password, "API_KEY": apiKey}
			var logs bytes.Buffer
			e, diags, err := engine.OpenProject(t.Context(), dir, mappings.LoadOptions{Getenv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }},
				engine.Options{Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
			if err != nil {
				t.Fatalf("%v\n%v", err, diags)
			}
			defer e.Close()
			var printed bytes.Buffer // what a command would print: through the engine's Redactor
			p, err := e.Plan(t.Context(), engine.PlanOptions{})
			if tc.redirect {
				if err == nil || !strings.Contains(err.Error(), "another origin") {
					t.Fatalf("plan with a token endpoint redirecting to another host: %v", err)
				}
				if n := stolen.Load(); n != 0 {
					t.Errorf("the client secret went to another host %d time(s)", n)
				}
				printed.WriteString(e.Redactor().String(err.Error()))
			} else {
				if err != nil {
					t.Fatal(err)
				}
				res, err := e.Apply(t.Context(), p.ID)
				if err != nil {
					printed.WriteString(e.Redactor().String(err.Error()))
				}
				if len(res.Failures) == 0 {
					t.Fatal("no write failed: the echo was not exercised")
				}
				for _, f := range res.Failures {
					printed.WriteString(e.Redactor().String(f.Message) + "\n")
				}
				fs, err := e.State().Failures(t.Context(), "", 100)
				if err != nil {
					t.Fatal(err)
				}
				if len(fs) == 0 || !strings.Contains(fs[0].Message, "refused") {
					t.Fatalf("the echoed failures were not stored: %+v", fs)
				}
				for _, f := range fs {
					printed.WriteString("stored: " + f.Message + "\n")
				}
			}
			for name, data := range map[string]string{"logs": logs.String(), "stored or printed": printed.String()} {
				for _, s := range tc.secrets {
					if i := strings.Index(data, s); i >= 0 {
						t.Errorf("%s contain the secret %q: …%s…", name, s, data[max(0, i-80):min(len(data), i+40)])
					}
				}
			}
			if !tc.redirect && !strings.Contains(printed.String(), "REDACTED") {
				t.Errorf("nothing was redacted:\n%s", printed.String())
			}
		})
	}
}
