package server

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/audit"
)

func TestConfig_AuditRetentionFlags(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name      string
		retention string
		maxRows   int64
		ship      string
		wantAge   time.Duration
		wantErr   string
	}{
		{"defaults", "", 0, "", audit.DefaultMaxAge, ""},
		{"days", "30d", 1000, "", 30 * 24 * time.Hour, ""},
		{"duration", "36h", 0, "", 36 * time.Hour, ""},
		{"off", "off", 0, "", 0, ""},
		{"ship to stdout", "", 0, "-", audit.DefaultMaxAge, ""},
		{"ship to a file", "", 0, filepath.Join(dir, "audit.jsonl"), audit.DefaultMaxAge, ""},
		{"too short", "10m", 0, "", 0, "shortest retention"},
		{"not a duration", "ninety", 0, "", 0, "--audit-retention"},
		{"zero days", "0d", 0, "", 0, "--audit-retention"},
		{"negative rows", "", -1, "", 0, "--audit-max-rows"},
		{"ship to a missing directory", "", 0, filepath.Join(dir, "nope", "audit.jsonl"), 0, "--audit-ship"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Config{Dev: true, DataDir: dir, AuditRetention: tc.retention, AuditMaxRows: tc.maxRows, AuditShip: tc.ship}
			err := c.Validate()
			var k *audit.Keeper
			if err == nil {
				k, err = newAuditKeeper(c, nil)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one naming %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if k.MaxAge != tc.wantAge || k.MaxRows != tc.maxRows || (k.Sink != nil) != (tc.ship != "") || c.AuditInterval != time.Minute {
				t.Errorf("keeper %+v, interval %s; want age %s, rows %d, shipping %v, 1m", k, c.AuditInterval, tc.wantAge, tc.maxRows, tc.ship != "")
			}
		})
	}
}

func TestServe_AuditLogIsPrunedInTheBackground(t *testing.T) {
	r := startServer(t, Config{Dev: true, DataDir: t.TempDir(), AuditMaxRows: 2, AuditInterval: 50 * time.Millisecond})
	for _, name := range []string{"a", "b", "c", "d"} {
		if st := r.admin(t, "POST", "/tenants", map[string]any{"name": name}, nil); st != 201 {
			t.Fatalf("create tenant %s: %d", name, st)
		}
	}
	ctx := context.Background()
	deadline := time.Now().Add(20 * time.Second)
	for {
		recs, err := r.srv.store.ListAuditLog(ctx, audit.Query{})
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) <= 2 {
			if len(recs) == 0 || recs[0].Operation != "POST /admin/v1/tenants" || recs[0].Name != "/admin/v1/tenants/d" {
				t.Fatalf("the newest records were pruned: %+v", recs)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d audit records after 20 s with --audit-max-rows 2", len(recs))
		}
		time.Sleep(20 * time.Millisecond) // polling a condition with a deadline
	}
}
