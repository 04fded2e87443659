package admin

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/audit"
)

type auditPageT struct {
	Value      []auditLogJSON `json:"value"`
	NextBefore int64          `json:"nextBefore"`
}

func TestAudit_EveryWriteHasOneRecordWithItsOutcome(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name    string
		method  string
		path    string
		body    any
		status  int
		outcome string
		code    string
		recName string // the record's name
	}{
		{"created", "POST", "/admin/v1/tenants", map[string]any{"name": "Contoso"}, 201, audit.OutcomeSuccess, "", "/admin/v1/tenants/Contoso"},
		{"conflict writes nothing", "POST", "/admin/v1/tenants", map[string]any{"name": "contoso"}, 409, audit.OutcomeFailed, "409", "/admin/v1/tenants/contoso"},
		{"invalid body", "POST", "/admin/v1/tenants", map[string]any{}, 400, audit.OutcomeFailed, "400", "/admin/v1/tenants"},
		{"deleted", "DELETE", "/admin/v1/tenants/contoso", nil, 204, audit.OutcomeSuccess, "", "/admin/v1/tenants/contoso"},
		{"not found", "DELETE", "/admin/v1/tenants/contoso", nil, 404, audit.OutcomeFailed, "404", "/admin/v1/tenants/contoso"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(tc.method, tc.path, tc.body)
			expect(t, r, tc.status)
			id := r.header.Get("X-Request-Id")
			if id == "" {
				t.Fatal("a write has no X-Request-Id")
			}
			recs, err := e.st.ListAuditLog(context.Background(), audit.Query{})
			if err != nil {
				t.Fatal(err)
			}
			var mine []audit.Record
			for _, rec := range recs {
				if rec.RequestID == id {
					mine = append(mine, rec)
				}
			}
			if len(mine) != 1 {
				t.Fatalf("%d records of request %s, want 1: %+v", len(mine), id, mine)
			}
			rec := mine[0]
			wantOp := tc.method + " /admin/v1/tenants"
			if tc.method == "DELETE" {
				wantOp += "/{tenant}"
			}
			if rec.Operation != wantOp || rec.Name != tc.recName || rec.Type != audit.TypeDirectory || rec.Outcome != tc.outcome || rec.Code != tc.code ||
				rec.AppID != e.adminClient.AppID || rec.TenantID != e.tenant.ID {
				t.Errorf("record %+v; want operation %q, name %q, outcome %s (%s), actor %s", rec, wantOp, tc.recName, tc.outcome, tc.code, e.adminClient.AppID)
			}
		})
	}
	// Reads are not directory changes: no record.
	before, _ := e.st.ListAuditLog(context.Background(), audit.Query{})
	e.must(http.StatusOK, "GET", "/admin/v1/tenants", nil)
	after, _ := e.st.ListAuditLog(context.Background(), audit.Query{})
	if len(after) != len(before) {
		t.Errorf("a GET added %d audit records", len(after)-len(before))
	}
}

func TestAudit_ListFiltersPagesAndRefusesBadQueries(t *testing.T) {
	e := newEnv(t)
	for _, name := range []string{"a", "b", "c"} {
		e.must(http.StatusCreated, "POST", "/admin/v1/tenants", map[string]any{"name": name})
	}
	expect(t, e.do("POST", "/admin/v1/tenants", map[string]any{"name": "a"}), 409)

	page := func(q string) auditPageT {
		t.Helper()
		return strictDecode[auditPageT](t, e.must(http.StatusOK, "GET", "/admin/v1/audit"+q, nil).body)
	}
	all := page("")
	if len(all.Value) != 4 || all.NextBefore != 0 || all.Value[0].Outcome != audit.OutcomeFailed {
		t.Fatalf("all = %+v; want 4 records, the failed one first", all)
	}
	cases := []struct {
		q    string
		want int
	}{
		{"?outcome=failed", 1},
		{"?outcome=success&operation=POST%20*", 3},
		{"?actor=" + strings.ToUpper(e.adminClient.AppID), 4},
		{"?actor=someone-else", 0},
		{"?tenant=default", 4}, // a name resolves to the tenant's id
		{"?tenant=" + e.other.ID, 0},
		{"?since=1h", 4},
		{"?from=2000-01-01T00:00:00Z&to=2000-01-02T00:00:00Z", 0},
		{"?vault=payments", 0},
		{"?name=/admin/v1/tenants/A", 2}, // created, then refused as a duplicate
	}
	for _, tc := range cases {
		if got := page(tc.q); len(got.Value) != tc.want {
			t.Errorf("GET /admin/v1/audit%s: %d records, want %d", tc.q, len(got.Value), tc.want)
		}
	}
	p1 := page("?limit=3")
	if len(p1.Value) != 3 || p1.NextBefore != p1.Value[2].Seq {
		t.Fatalf("first page %+v; want 3 records and nextBefore = the last seq", p1)
	}
	p2 := page("?limit=3&before=" + itoa(p1.NextBefore))
	if len(p2.Value) != 1 || p2.NextBefore != 0 {
		t.Errorf("second page %+v; want the 1 remaining record, no nextBefore", p2)
	}
	fwd := page("?after=" + itoa(all.Value[3].Seq))
	if len(fwd.Value) != 3 || fwd.Value[0].Seq != all.Value[2].Seq {
		t.Errorf("after = %+v; want the 3 newer records, oldest first", fwd)
	}

	bad := []struct{ q, part string }{
		{"?since=5x", "since"},
		{"?since=1h&from=2026-01-01T00:00:00Z", "since or from"},
		{"?from=yesterday", "RFC 3339"},
		{"?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", "empty"},
		{"?outcome=maybe", "outcome"},
		{"?limit=0", "limit"},
		{"?limit=1001", "limit"},
		{"?before=-1", "before"},
		{"?before=5&after=2", "not both"},
		{"?colour=red", "unknown query parameter"},
		{"?vault=a&vault=b", "once"},
	}
	for _, tc := range bad {
		wantError(t, e.do("GET", "/admin/v1/audit"+tc.q, nil), 400, "BadRequest", tc.part)
	}
	r := e.send(request{method: "GET", path: "/admin/v1/audit", noToken: true})
	expect(t, r, 401)
	r = e.send(request{method: "GET", path: "/admin/v1/audit", token: tokNoRole})
	expect(t, r, 403)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func FuzzAuditQuery(f *testing.F) {
	e := newEnv(f)
	for _, s := range []string{
		"", "since=1h", "since=7d&outcome=denied", "from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z",
		"operation=secrets/*&vault=x&actor=y&name=z&tenant=default", "before=10&limit=5", "after=3",
		"since=-1h", "since=99999999d", "limit=1e3", "%zz", "before=99999999999999999999",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		req := httptest.NewRequest("GET", "/admin/v1/audit", nil)
		req.URL.RawQuery = q
		req.Header.Set("Authorization", "Bearer "+tokAdmin)
		rec := httptest.NewRecorder()
		e.mux.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK && rec.Code != http.StatusBadRequest {
			t.Fatalf("GET /admin/v1/audit?%s = %d: %s", q, rec.Code, rec.Body.Bytes())
		}
	})
}
