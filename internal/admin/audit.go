package admin

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/portcullis/portcullis/internal/audit"
)

// auditRoutes is the audit log of every component: directory changes,
// vault operations, refused requests.
func auditRoutes() []route {
	return []route{
		{"GET", basePath + "/audit", false, func(a *API) handlerFunc { return a.listAudit }},
	}
}

// auditLogJSON is one record of the audit log with its place in it.
type auditLogJSON struct {
	Seq int64 `json:"seq"`
	auditJSON
}

// auditPageJSON is a page of the audit log.
type auditPageJSON struct {
	Value []auditLogJSON `json:"value"`
	// NextBefore, when not 0, is the before= of the next (older) page.
	NextBefore int64 `json:"nextBefore,omitempty"`
}

func auditLogOut(r audit.Record) auditLogJSON {
	return auditLogJSON{Seq: r.Seq, auditJSON: auditJSON{
		Time: r.Time.UTC(), RequestID: r.RequestID, TenantID: r.TenantID, AppID: r.AppID, ObjectID: r.ObjectID,
		Vault: r.Vault, Type: r.Type, Name: r.Name, Version: r.Version,
		Operation: r.Operation, Outcome: r.Outcome, Code: r.Code, Reason: r.Reason,
	}}
}

// parseAuditQuery reads the filters of GET /admin/v1/audit. now anchors
// since=. Every error names the parameter and what it accepts.
func parseAuditQuery(v url.Values, now time.Time) (audit.Query, error) {
	var q audit.Query
	for name, vals := range v {
		switch name {
		case "since", "from", "to", "tenant", "vault", "actor", "operation", "outcome", "name", "before", "after", "limit":
			if len(vals) > 1 {
				return q, badRequest("query parameter %s is given %d times; give it once", name, len(vals))
			}
		default:
			return q, badRequest("unknown query parameter %q; the filters are since, from, to, tenant, vault, actor, operation, outcome, name, before, after and limit", clip(name))
		}
	}
	if s := v.Get("since"); s != "" {
		if v.Get("from") != "" {
			return q, badRequest("give since or from, not both")
		}
		d, err := parseAge(s)
		if err != nil {
			return q, badRequest("query parameter since=%q: %v", clip(s), err)
		}
		q.From = now.Add(-d)
	}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"from", &q.From}, {"to", &q.To}} {
		if s := v.Get(p.name); s != "" {
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return q, badRequest("query parameter %s=%q must be an RFC 3339 time, e.g. 2026-01-02T15:04:05Z", p.name, clip(s))
			}
			*p.dst = t
		}
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
		return q, badRequest("the time range is empty: from (or since) must be before to")
	}
	q.TenantID, q.Vault, q.AppID, q.Operation, q.Name = v.Get("tenant"), v.Get("vault"), v.Get("actor"), v.Get("operation"), v.Get("name")
	for _, s := range []string{q.TenantID, q.Vault, q.AppID, q.Operation, q.Name} {
		if len(s) > 256 {
			return q, badRequest("a filter value is longer than 256 characters")
		}
	}
	switch o := v.Get("outcome"); o {
	case "", audit.OutcomeSuccess, audit.OutcomeDenied, audit.OutcomeFailed, audit.OutcomeRefused:
		q.Outcome = o
	default:
		return q, badRequest("query parameter outcome=%q must be one of success, denied, failed, refused", clip(o))
	}
	for _, p := range []struct {
		name string
		dst  *int64
	}{{"before", &q.BeforeSeq}, {"after", &q.AfterSeq}} {
		if s := v.Get(p.name); s != "" {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n < 0 {
				return q, badRequest("query parameter %s=%q must be a record's seq (a whole number, 0 or more)", p.name, clip(s))
			}
			*p.dst = n
		}
	}
	if q.BeforeSeq > 0 && q.AfterSeq > 0 {
		return q, badRequest("give before (page back) or after (follow), not both")
	}
	q.Limit = defaultAuditLimit
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxAuditLimit {
			return q, badRequest("query parameter limit=%q must be a whole number between 1 and %d", clip(s), maxAuditLimit)
		}
		q.Limit = n
	}
	return q, nil
}

// parseAge reads a duration such as 90s, 15m, 1h30m or 7d.
func parseAge(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 1 || days > 36500 {
			return 0, errors.New("want a duration such as 30m, 12h or 7d")
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, errors.New("want a duration such as 30m, 12h or 7d")
	}
	return d, nil
}

func (a *API) listAudit(w http.ResponseWriter, r *http.Request) error {
	if a.auditLog == nil {
		return errorf(http.StatusServiceUnavailable, "this server keeps no audit log the admin API can read")
	}
	q, err := parseAuditQuery(r.URL.Query(), a.now())
	if err != nil {
		return err
	}
	ctx := r.Context()
	if q.TenantID != "" && a.dir != nil {
		// A tenant's name or id; one not found (a deleted tenant whose
		// records remain) filters as given.
		if t, err := a.dir.Tenant(ctx, q.TenantID); err == nil {
			q.TenantID = t.ID
		}
	}
	recs, err := a.auditLog.ListAuditLog(ctx, q)
	if err != nil {
		return err
	}
	out := auditPageJSON{Value: mapSlice(recs, auditLogOut)}
	if out.Value == nil {
		out.Value = []auditLogJSON{}
	}
	if q.AfterSeq == 0 && len(recs) == q.Limit {
		out.NextBefore = recs[len(recs)-1].Seq
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
