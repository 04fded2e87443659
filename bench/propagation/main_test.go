package main

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/store/postgres/pgtest"
)

// TestRun_MeasuresEachKind runs one change of each kind across three nodes
// on PostgreSQL, with one load caller: each reaches both other nodes.
func TestRun_MeasuresEachKind(t *testing.T) {
	base := pgtest.RequireDatabase(t)
	t.Setenv("PORTCULLIS_ROOT_KEY", os.Getenv("PORTCULLIS_ROOT_KEY")) // run sets it; restored after the test
	res, err := run(context.Background(), config{postgresURL: base, changes: 2, poll: 2 * time.Millisecond, timeout: 30 * time.Second, load: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 4 {
		t.Fatalf("results %v", res)
	}
	for _, r := range res {
		if len(r.delays) != 2 {
			t.Errorf("%s: %d delays measured; want 2", r.kind, len(r.delays))
		}
	}
}
