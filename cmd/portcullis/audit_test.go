package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/adminclient"
)

// --follow prints batches as they arrive; their columns line up with the
// header printed before the first.
func TestPrintFollowed_ColumnsLineUpAcrossBatches(t *testing.T) {
	var buf bytes.Buffer
	p := &printer{w: &buf}
	at := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	batch1 := []adminclient.AuditRecord{{Seq: 7, Time: at, AppID: "anonymous", Operation: "SecretGet", Vault: "main", Type: "secret", Name: "db", Outcome: "ok", RequestID: "r1"}}
	batch2 := []adminclient.AuditRecord{{Seq: 12345, Time: at, AppID: "0f8fad5b-d9cb-469f-a165-70867728950e", Operation: "AdminApplicationCreate",
		Type: "directory", Name: "/admin/v1/tenants/default/applications/orders-api-with-a-long-name", Outcome: "failed", Code: "Conflict", RequestID: "b3b8c7b4-7f8e-4a8e-9d6a-1f0e2c3d4e5f", Reason: "exists"}}
	if err := printFollowed(p, batch1, true); err != nil {
		t.Fatal(err)
	}
	if err := printFollowed(p, batch2, false); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want a header and two rows:\n%s", len(lines), buf.String())
	}
	for _, col := range []struct{ header, first, second string }{
		{"TIME", "2026-12-05", "2026-12-05"},
		{"CALLER", "anonymous", "0f8fad5b"},
		{"OPERATION", "SecretGet", "AdminApplicationCreate"},
	} {
		h, a, b := strings.Index(lines[0], col.header), strings.Index(lines[1], col.first), strings.Index(lines[2], col.second)
		if h < 0 || h != a || h != b {
			t.Errorf("column %s starts at %d, %d and %d:\n%s", col.header, h, a, b, buf.String())
		}
	}
}

func TestNoAuditRecords_NamesTheFiltersToCheck(t *testing.T) {
	for _, tc := range []struct {
		q    adminclient.AuditQuery
		want string
	}{
		{adminclient.AuditQuery{Since: "1h"}, "No audit records in this time range."},
		{adminclient.AuditQuery{Vault: "paymnets"}, "match --vault paymnets. Check the names"},
		{adminclient.AuditQuery{Tenant: "contoso", Operation: "secrets/*"}, "match --tenant contoso, --operation secrets/*."},
	} {
		if got := noAuditRecords(tc.q); !strings.Contains(got, tc.want) {
			t.Errorf("noAuditRecords(%+v) = %q, want it to contain %q", tc.q, got, tc.want)
		}
	}
}
