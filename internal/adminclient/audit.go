package adminclient

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// AuditRecord is one record of the audit log (GET /admin/v1/audit); it
// never holds a secret value.
type AuditRecord struct {
	Seq       int64     `json:"seq"`
	Time      time.Time `json:"time"`
	RequestID string    `json:"requestId"`
	TenantID  string    `json:"tenantId"`
	AppID     string    `json:"appId"`
	ObjectID  string    `json:"objectId"`
	Vault     string    `json:"vault"`
	Type      string    `json:"type"`
	Name      string    `json:"name"`
	Version   string    `json:"version"`
	Operation string    `json:"operation"`
	Outcome   string    `json:"outcome"`
	Code      string    `json:"code"`
	Reason    string    `json:"reason"`
}

// AuditPage is one answer of GET /admin/v1/audit.
type AuditPage struct {
	Value []AuditRecord `json:"value"`
	// NextBefore, when not 0, is the Before of the next (older) page.
	NextBefore int64 `json:"nextBefore,omitempty"`
}

// AuditQuery holds the filters of GET /admin/v1/audit; zero fields do not
// filter.
type AuditQuery struct {
	Since     string // a duration such as 1h or 7d (not with From)
	From, To  time.Time
	Tenant    string
	Vault     string
	Actor     string // the caller's appId
	Operation string // exact, or a prefix ending in *
	Outcome   string
	Name      string
	Before    int64 // page back: records with seq below
	After     int64 // follow: records with seq above, oldest first
	Limit     int
}

func (q AuditQuery) values() url.Values {
	v := url.Values{}
	set := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	set("since", q.Since)
	if !q.From.IsZero() {
		v.Set("from", q.From.UTC().Format(time.RFC3339Nano))
	}
	if !q.To.IsZero() {
		v.Set("to", q.To.UTC().Format(time.RFC3339Nano))
	}
	set("tenant", q.Tenant)
	set("vault", q.Vault)
	set("actor", q.Actor)
	set("operation", q.Operation)
	set("outcome", q.Outcome)
	set("name", q.Name)
	if q.Before > 0 {
		v.Set("before", strconv.FormatInt(q.Before, 10))
	}
	if q.After > 0 {
		v.Set("after", strconv.FormatInt(q.After, 10))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	return v
}

// Audit reads one page of the audit log: newest first, or oldest first
// when q.After is set.
func (c *Client) Audit(ctx context.Context, q AuditQuery) (AuditPage, error) {
	path := "/audit"
	if v := q.values().Encode(); v != "" {
		path += "?" + v
	}
	var p AuditPage
	err := c.do(ctx, http.MethodGet, path, nil, &p)
	return p, err
}
