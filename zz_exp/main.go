package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/couplerhq/coupler/engine/state"
)

func main() {
	ctx := context.Background()
	os.RemoveAll("/tmp/exp3")
	os.MkdirAll("/tmp/exp3/scratch", 0o755)
	d, err := state.Open(ctx, "/tmp/exp3/s.duckdb", state.Options{Sealed: true, Scratch: "/tmp/exp3/scratch"})
	if err != nil {
		panic(err)
	}
	// a write transaction left open on the side
	db := d // 
	_ = db
	for _, q := range []string{"select count(*) from couplings", "select 1; select 2", "COMMIT", "SELECT * FROM force_checkpoint()", "CALL force_checkpoint()", "SELECT * FROM checkpoint()", "select * from read_csv('/etc/passwd')", "describe couplings", "show tables", "pragma table_info('couplings')", "summarize runs", "explain select 1", "from runs", "ATTACH ':memory:' AS m", "delete from couplings", "select * from read_text('/tmp/exp3/scratch/x')", "with x as (select 1) select * from x"} {
		start := time.Now()
		n := 0
		err := d.Query(ctx, q, func(cols []string, row []any) error { n++; return nil })
		fmt.Printf("%-45s -> rows %d err %v (%v)\n", q, n, err, time.Since(start).Round(time.Millisecond))
	}
	err = d.Backup(ctx, "/tmp/exp3/backup.duckdb")
	fmt.Println("backup outside scratch:", err)
}
