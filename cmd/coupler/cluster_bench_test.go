package main

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/couplerhq/coupler/connectors/fake"
	"github.com/couplerhq/coupler/engine/state/pgtest"
)

// benchMappings is how many mappings BenchmarkServeWorkers syncs.
const benchMappings = 12

// BenchmarkServeWorkers is issue 17's benchmark of runs shared by
// workers: the first sync of 12 mappings of N customers each (N is
// $COUPLER_BENCH_CLUSTER_RECORDS, default 20,000) by 1, 2 and 3 coupler
// serve processes (--workers 1 each) on one PostgreSQL state, timed from
// their start until every mapping has a finished run; then every
// customer must have exactly one account. The fake servers run in the
// benchmark's process, on the same cores.
//
//	go test ./cmd/coupler -run '^$' -bench ServeWorkers -benchtime 1x
func BenchmarkServeWorkers(b *testing.B) {
	coupler := couplerCommand(b)
	n := 20_000
	if v := os.Getenv("COUPLER_BENCH_CLUSTER_RECORDS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			b.Fatalf("COUPLER_BENCH_CLUSTER_RECORDS=%q: want a number of customers per mapping", v)
		}
	}
	for _, workers := range []int{1, 2, 3} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				dir, erp, crm, db := benchClusterProject(b, n)
				b.StartTimer()
				var ws []*clusterWorker
				for range workers {
					ws = append(ws, startClusterWorker(b, coupler, dir, 1))
				}
				deadline := time.Now().Add(10 * time.Minute)
				for {
					if time.Now().After(deadline) {
						for _, w := range ws {
							b.Log(w.logs.String())
						}
						b.Fatal("not every mapping ran within 10 minutes")
					}
					var done int
					err := db.QueryRow(b.Context(), `SELECT count(DISTINCT mapping) FROM bench.runs WHERE finished_at IS NOT NULL`).Scan(&done)
					if err != nil && !isUndefinedTable(err) {
						b.Fatal(err)
					}
					if done == benchMappings {
						break
					}
					time.Sleep(50 * time.Millisecond) // polling, not synchronisation
				}
				b.StopTimer()
				for _, w := range ws {
					w.stop()
				}
				checkBenchAccounts(b, erp, crm, benchMappings*n)
			}
			b.ReportMetric(float64(benchMappings*n*b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// isUndefinedTable says err is PostgreSQL's "relation does not exist":
// the state's tables are not made yet.
func isUndefinedTable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "42P01"
}

// benchClusterProject makes the fakes (12n customers numbered Kkk and a
// serial, no account), a project of 12 one-way mappings, one per prefix,
// writing 100 creates per $batch, and its PostgreSQL state (schema
// bench), with a connection to it.
func benchClusterProject(b *testing.B, n int) (dir string, erp, crm *fake.Server, db *pgx.Conn) {
	erp, crm = fake.NewERP(), fake.NewCRM()
	for k := 1; k <= benchMappings; k++ {
		for j := range n {
			c := fake.Customer((k-1)*n + j)
			c["number"] = fmt.Sprintf("K%02d%06d", k, j)
			if _, err := erp.Put("customers", c); err != nil {
				b.Fatal(err)
			}
		}
	}
	erpSrv := httptest.NewServer(http.StripPrefix("/api/v2.0", erp))
	crmSrv := httptest.NewServer(http.StripPrefix("/api/data/v9.2", crm))
	b.Cleanup(erpSrv.Close)
	b.Cleanup(crmSrv.Close)
	url := pgtest.Database(b)
	dir = b.TempDir()
	files := map[string]string{"coupler.yaml": fmt.Sprintf(`version: 1
state: %q
state_schema: bench
# Every mapping's first sync creates all it covers, beside the accounts
# other mappings made: no person approves here.
approval: { changed_share: 100%% }
connectors:
  bc: { type: odata, base_url: %q, page_size: 5000 }
  dataverse: { type: odata, base_url: %q, page_size: 5000, batch_size: 100 }
mappings: ["mappings/*.yaml"]
`, url, fake.BCCompanyURL(erpSrv.URL+"/api/v2.0"), crmSrv.URL+"/api/data/v9.2")}
	for k := 1; k <= benchMappings; k++ {
		name := fmt.Sprintf("K%02d", k)
		files["mappings/"+name+".yaml"] = prefixMapping(name, name, "")
	}
	writeProjectFiles(b, dir, files)
	db, err := pgx.Connect(b.Context(), url)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close(b.Context()) })
	return dir, erp, crm, db
}

// checkBenchAccounts fails unless the CRM holds exactly one account for
// each customer, want in all.
func checkBenchAccounts(b *testing.B, erp, crm *fake.Server, want int) {
	b.Helper()
	seen := map[string]int{}
	for _, a := range crm.All("accounts") {
		seen[fmt.Sprint(a["accountnumber"])]++
	}
	if len(seen) != want || crm.Len("accounts") != want || erp.Len("customers") != want {
		b.Fatalf("%d accounts for %d numbers, %d customers; want %d each", crm.Len("accounts"), len(seen), erp.Len("customers"), want)
	}
}
