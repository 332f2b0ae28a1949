package engine

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/connectors/rest"
	"github.com/couplerhq/coupler/engine/state"
	"github.com/couplerhq/coupler/mappings"
)

// serve's shutdown timeout cancels the apply's context: the REST connector
// then starts no further write of the batch and reports the unstarted ones
// as not sent. Settling must take them for not happened, not keep their
// intents as undecidable (which, without a modified field or a client key,
// would stop every later plan).
func TestUnsentWriteIsNotSettled(t *testing.T) {
	t.Parallel()
	var hits int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits++; w.WriteHeader(500) }))
	defer srv.Close()
	c, err := rest.New(connectors.Config{Name: "api", BaseURL: srv.URL, Settings: &rest.Settings{Resources: map[string]rest.Resource{
		"items": {List: rest.Endpoint{Method: "GET", Path: "/items"}, Get: rest.Endpoint{Method: "GET", Path: "/items/{id}"},
			Create: rest.Endpoint{Method: "POST", Path: "/items"}, Key: "id"}}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	entity := connectors.Entity{Name: "items", Key: "id"}
	out, _ := c.Write(ctx, entity, []connectors.WriteOp{{Op: connectors.OpCreate, Fields: connectors.Record{"name": "a"}}})
	if hits != 0 || out[0].Err == nil {
		t.Fatalf("hits %d, err %v", hits, out[0].Err)
	}
	db, err := state.Open(t.Context(), filepath.Join(t.TempDir(), "state.duckdb"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	e := &Engine{store: db, work: db, log: slog.New(slog.NewTextHandler(io.Discard, nil)), now: time.Now, prog: &Program{Project: &mappings.Project{
		Connectors: []*mappings.Connector{{Config: connectors.Config{Name: "api", Type: "rest"}}}}}}
	target := writeTarget{planID: "p1", part: state.Part{PlanID: "p1", Mapping: "ITEM", Direction: "to_integration"},
		side: state.CouplingSide{Mapping: "ITEM", SourceIsTable: true}, runID: 1, key: "id", connector: "api"}
	intents := []state.Intent{{RunID: 1, PlanID: "p1", Mapping: "ITEM", Direction: "to_integration", Seq: 1, Op: "create",
		SourceID: "s1", Fields: `{"name":"a"}`, CreatedAt: time.Now()}}
	_, unsettled, err := e.settleFailed(t.Context(), c, entity, target, intents, out, nil)
	if len(unsettled) > 0 {
		t.Errorf("a write that was never sent (%v) is kept as undecidable: %v", out[0].Err, err)
	}
}
