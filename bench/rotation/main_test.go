package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestRun_MeasuresEachKind runs one rotation of each kind on SQLite (and
// on PostgreSQL when PORTCULLIS_TEST_POSTGRES is set): the new certificate
// and the new password both reach the backend.
func TestRun_MeasuresEachKind(t *testing.T) {
	stores := map[string]string{"sqlite": ""}
	if pg := os.Getenv("PORTCULLIS_TEST_POSTGRES"); pg != "" {
		stores["postgres"] = pg
	} else {
		t.Log("PORTCULLIS_TEST_POSTGRES is not set: measuring on SQLite only")
	}
	for name, url := range stores {
		t.Run(name, func(t *testing.T) {
			res, err := run(context.Background(), config{rotations: 1, postgresURL: url, interval: 5 * time.Millisecond, timeout: 30 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if len(res) != 2 || res[0].kind != "client certificate" || res[1].kind != "basic password" {
				t.Fatalf("results %v", res)
			}
			for _, r := range res {
				if len(r.delays) != 1 || r.delays[0] <= 0 {
					t.Errorf("%s: delays %v", r.kind, r.delays)
				}
			}
		})
	}
}

// TestRunGateway_MeasuresEachKindThroughTheBinary builds portcullis and
// runs one rotation of each kind through its gateway.
func TestRunGateway_MeasuresEachKindThroughTheBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the portcullis binary")
	}
	bin := filepath.Join(t.TempDir(), "portcullis")
	build := exec.Command("go", "build", "-o", bin, "github.com/portcullis/portcullis/cmd/portcullis")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	res, err := runGateway(context.Background(), gatewayConfig{binary: bin, rotations: 1, interval: 5 * time.Millisecond, timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].kind != "client certificate" || res[1].kind != "basic password" {
		t.Fatalf("results %v", res)
	}
	for _, r := range res {
		if len(r.delays) != 1 || r.delays[0] > 5*time.Second {
			t.Errorf("%s: delays %v, want one within 5 s", r.kind, r.delays)
		}
	}
}
