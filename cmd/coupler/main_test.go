package main

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/couplerhq/coupler/connectors/fake"
	"github.com/couplerhq/coupler/engine/state"
	"github.com/couplerhq/coupler/engine/state/pgtest"
	"github.com/couplerhq/coupler/engine/state/statetest"
)

func TestMain(m *testing.M) {
	statetest.OneThread()
	// The scripts that use PostgreSQL (pg-database) share one private
	// server, which pgtest.Main stops once the tests are done.
	testscript.Main(pgMain{m}, map[string]func(){
		"coupler": func() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) },
	})
}

// pgMain runs the tests through pgtest.Main.
type pgMain struct{ m *testing.M }

func (p pgMain) Run() int { return pgtest.Main(p.m) }

// TestScripts runs the txtar scripts under testdata/script. Each script gets
// its own fake ERP (BC_URL, 50 customers stamped in the past) and fake CRM
// (DATAVERSE_URL), and the command fake-edit to change a customer.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			erp, crm := fake.NewERP(), fake.NewCRM()
			stamp := time.Now().Add(-2 * time.Hour)
			erp.SetClock(func() time.Time { stamp = stamp.Add(time.Minute); return stamp })
			if err := fake.SeedCustomers(erp, 50); err != nil {
				return err
			}
			erp.SetClock(time.Now)
			erpSrv := httptest.NewServer(http.StripPrefix("/api/v2.0", erp))
			crmSrv := httptest.NewServer(http.StripPrefix("/api/data/v9.2", crm))
			env.Defer(erpSrv.Close)
			env.Defer(crmSrv.Close)
			// Scripts start from an environment of their own.
			env.Setenv(state.ThreadsEnv, os.Getenv(state.ThreadsEnv))
			env.Setenv("BC_URL", fake.BCCompanyURL(erpSrv.URL+"/api/v2.0"))
			env.Setenv("DATAVERSE_URL", crmSrv.URL+"/api/data/v9.2")
			// Ids scripts can name: two customers and an account of the CRM.
			env.Setenv("C0", fake.CustomerID(0))
			env.Setenv("C1", fake.CustomerID(1))
			env.Setenv("C5", fake.CustomerID(5))
			account, err := crm.Put("accounts", map[string]any{"accountnumber": "X-1", "name": "Unrelated", "statecode": 0, "customertypecode": 3})
			if err != nil {
				return err
			}
			env.Setenv("ACCOUNT", account)
			// The same ids as a person may type them: GUIDs in upper case.
			env.Setenv("C0_UPPER", strings.ToUpper(fake.CustomerID(0)))
			env.Setenv("C1_UPPER", strings.ToUpper(fake.CustomerID(1)))
			env.Setenv("ACCOUNT_UPPER", strings.ToUpper(account))
			env.Values["erp"] = erp
			// The script's test, for pg-database: testscript's T is its
			// *testing.T.
			if tb, ok := env.T().(testing.TB); ok {
				env.Values["tb"] = tb
			}
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// pg-database NAME [PASSWORD] creates an empty database on
			// the test binary's PostgreSQL server (pgtest), dropped when
			// the script ends, and sets $NAME to its URL, with PASSWORD
			// in it when given (the server trusts local connections and
			// ignores it), for scripts that check it is never printed.
			"pg-database": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) < 1 || len(args) > 2 || neg {
					ts.Fatalf("usage: pg-database NAME [PASSWORD]")
				}
				tb, ok := ts.Value("tb").(testing.TB)
				if !ok {
					ts.Fatalf("pg-database: no testing.TB for this script")
				}
				u, err := url.Parse(pgtest.Database(tb))
				ts.Check(err)
				if len(args) == 2 {
					u.User = url.UserPassword(u.User.Username(), args[1])
				}
				ts.Setenv(args[0], u.String())
			},
			// fake-edit N FIELD VALUE changes customer number N on the fake ERP.
			"fake-edit": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 3 {
					ts.Fatalf("usage: fake-edit N FIELD VALUE")
				}
				erp := ts.Value("erp").(*fake.Server)
				var n int
				if _, err := fmtSscan(args[0], &n); err != nil {
					ts.Fatalf("bad customer index %q", args[0])
				}
				id := fake.CustomerID(n)
				ts.Check(erp.Patch("customers", id, map[string]any{args[1]: args[2]}))
			},
		},
	})
}
