package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/portcullis/portcullis/internal/adminclient"
)

// auditFollowInterval is how often --follow asks for new records.
const auditFollowInterval = 2 * time.Second

func newAuditCommand() *cobra.Command {
	var (
		f        serverFlags
		q        adminclient.AuditQuery
		from, to string
		follow   bool
	)
	cmd := &cobra.Command{
		Use:   "audit [flags]",
		Short: "Read the audit log: directory changes, vault operations, refused requests",
		Long: `Read the audit log of the server, newest first: every change made through the
admin API (tenants, applications, credentials, grants, roles, APIs, connectors,
vaults, role assignments) and every vault operation (reads, writes, denied and
failed attempts, refused requests), with time, caller (appId), operation,
object, outcome and request id. Secret values are never recorded.

A change's record is committed in the same transaction as the change: there is
no change without its record. Records are kept as long as the server's
--audit-retention and --audit-max-rows say (default 90 days, 10 million
records); see docs/operations.md.

Filters combine (all must match):
  --since 1h | --from TIME --to TIME   time range (TIME: RFC 3339 or YYYY-MM-DD, UTC)
  --tenant   the caller's tenant (name or id)
  --vault    a vault          --name       an object name, or an admin API path
  --actor    a caller: its appId, or an application's name or identifier URI
  --operation  e.g. secrets/getSecret, or a prefix: "secrets/*"
  --outcome  success, denied, failed or refused

One page holds --limit records (1-1000, default 100); when there are more, the
last line says which --before to give for the next, older page. --follow prints
the newest page, oldest first, then new records as they arrive (every 2s) until
interrupted. This command uses the admin API (GET /admin/v1/audit) and needs
an admin credential.
` + adminEnvHelp,
		Example: `  portcullis audit --since 1h
  portcullis audit --vault payments --outcome denied --since 7d
  portcullis audit --actor 3f1c…-app-id --operation "secrets/*" -o json
  portcullis audit --actor orders-worker --since 1h   # an application by name
  portcullis audit --from 2026-01-01 --to 2026-01-02 --limit 1000
  portcullis audit --before 48213            # the next, older page
  portcullis audit --operation "POST /admin/v1/tenants/{tenant}/applications"
  portcullis audit --follow --vault payments`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if q.From, err = parseAuditTime("--from", from); err != nil {
				return err
			}
			if q.To, err = parseAuditTime("--to", to); err != nil {
				return err
			}
			if q.Since != "" && !q.From.IsZero() {
				return fmt.Errorf("give --since or --from, not both")
			}
			if q.Since != "" && !validAge(q.Since) {
				return fmt.Errorf("--since %q: give a duration such as 30m, 12h or 7d", q.Since)
			}
			switch q.Outcome {
			case "", "success", "denied", "failed", "refused":
			default:
				return fmt.Errorf("--outcome %q: give success, denied, failed or refused", q.Outcome)
			}
			if q.Limit < 1 || q.Limit > maxAuditLimit {
				return fmt.Errorf("--limit %d: must be between 1 and %d", q.Limit, maxAuditLimit)
			}
			if q.Before < 0 {
				return fmt.Errorf("--before %d: give the seq a previous page ended with (a positive number)", q.Before)
			}
			if follow && q.Before > 0 {
				return fmt.Errorf("--follow reads from the newest records on; it does not take --before")
			}
			p, err := f.printer(cmd)
			if err != nil {
				return err
			}
			cfg, err := adminclient.LoadConfig(f.flags())
			if err != nil {
				return err
			}
			c, err := adminclient.New(cfg)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if q.Actor, err = resolveActor(ctx, c, q.Tenant, q.Actor); err != nil {
				return err
			}
			page, err := c.Audit(ctx, q)
			if err != nil {
				return err
			}
			if !follow {
				if p.json {
					return p.JSON(page)
				}
				if len(page.Value) == 0 {
					p.linef("%s", noAuditRecords(q))
					return nil
				}
				if err := p.table(auditHeader, auditRows(page.Value)); err != nil {
					return err
				}
				if page.NextBefore > 0 {
					p.linef("(more: add --before %d for older records)", page.NextBefore)
				}
				return nil
			}
			recs := slices.Clone(page.Value)
			slices.Reverse(recs) // oldest first, as new ones will follow
			var last int64
			if len(page.Value) > 0 {
				last = page.Value[0].Seq
			}
			header := true
			t := time.NewTicker(auditFollowInterval)
			defer t.Stop()
			for {
				if err := printFollowed(p, recs, header); err != nil {
					return err
				}
				header = header && len(recs) == 0
				select {
				case <-ctx.Done():
					return nil
				case <-t.C:
				}
				fq := q
				fq.Since, fq.From, fq.Before, fq.After, fq.Limit = "", time.Time{}, 0, last, maxAuditLimit
				if last == 0 {
					fq.Since, fq.From = q.Since, q.From // nothing seen yet: keep the time range
				}
				recs = recs[:0]
				for { // all that is new, a page at a time
					next, err := c.Audit(ctx, fq)
					if err != nil {
						return err
					}
					recs = append(recs, next.Value...)
					if len(next.Value) == 0 {
						break
					}
					last = next.Value[len(next.Value)-1].Seq
					if len(next.Value) < fq.Limit {
						break
					}
					fq.After = last
				}
			}
		},
	}
	f.register(cmd.Flags())
	fl := cmd.Flags()
	fl.StringVar(&q.Since, "since", "", "only records of the last duration, e.g. 30m, 12h, 7d")
	fl.StringVar(&from, "from", "", "only records at or after this time (RFC 3339 or YYYY-MM-DD, UTC)")
	fl.StringVar(&to, "to", "", "only records before this time (RFC 3339 or YYYY-MM-DD, UTC)")
	fl.StringVar(&q.Tenant, "tenant", "", "only records of callers in this tenant (name or id)")
	fl.StringVar(&q.Vault, "vault", "", "only records of this vault")
	fl.StringVar(&q.Actor, "actor", "", "only records of this caller: an appId, or an application's name or identifier URI in --tenant (default tenant \"default\")")
	fl.StringVar(&q.Operation, "operation", "", `only this operation (e.g. secrets/setSecret), or a prefix ending in * ("secrets/*")`)
	fl.StringVar(&q.Outcome, "outcome", "", "only this outcome: success, denied, failed or refused")
	fl.StringVar(&q.Name, "name", "", "only records about this object name (or admin API path)")
	fl.Int64Var(&q.Before, "before", 0, "page back: only records older than this seq (the --before a page ends with)")
	fl.IntVar(&q.Limit, "limit", 100, "records per page, 1-1000")
	fl.BoolVarP(&follow, "follow", "f", false, "keep printing new records as they arrive (JSON lines with -o json)")
	return cmd
}

var auditHeader = []string{"SEQ", "TIME", "CALLER", "OPERATION", "VAULT", "OBJECT", "VERSION", "OUTCOME", "REQUEST ID", "REASON"}

func auditRows(recs []adminclient.AuditRecord) [][]string {
	rows := make([][]string, 0, len(recs))
	for _, r := range recs {
		obj := r.Name
		if r.Type != "" && r.Type != "directory" {
			obj = r.Type + "/" + r.Name
		}
		outcome := r.Outcome
		if r.Code != "" {
			outcome += " (" + r.Code + ")"
		}
		rows = append(rows, []string{fmt.Sprint(r.Seq), when(r.Time), r.AppID, r.Operation, r.Vault, obj, r.Version, outcome, r.RequestID, clipText(r.Reason, 100)})
	}
	return rows
}

// printFollowed prints records of --follow: JSON lines, or table rows (the
// header only before the first).
func printFollowed(p *printer, recs []adminclient.AuditRecord, header bool) error {
	if p.json {
		for _, r := range recs {
			if err := p.JSONLine(r); err != nil {
				return err
			}
		}
		return nil
	}
	if len(recs) == 0 {
		return nil
	}
	// Rows arrive in batches, so the columns have fixed widths (wide enough
	// for ids and GUIDs) rather than those of each batch.
	var b strings.Builder
	if header {
		b.WriteString(followLine(auditHeader))
	}
	for _, r := range auditRows(recs) {
		b.WriteString(followLine(r))
	}
	_, err := io.WriteString(p.w, b.String())
	return err
}

// followWidths are the column widths of --follow's table, one per
// auditHeader column but the last (REASON), which is not padded.
var followWidths = []int{8, 20, 36, 30, 12, 30, 32, 16, 36}

func followLine(cols []string) string {
	var b strings.Builder
	for i, c := range cols {
		if c == "" {
			c = "-"
		}
		if i < len(followWidths) {
			fmt.Fprintf(&b, "%-*s  ", followWidths[i], c)
			continue
		}
		b.WriteString(c)
	}
	return strings.TrimRight(b.String(), " ") + "\n"
}

// fixedActors are callers of audit records that are no application: the
// vault's own consumers, the bootstrap and unauthenticated requests.
var fixedActors = []string{"anonymous", "portcullis", "portcullis-admin", "portcullis-bootstrap"}

// resolveActor turns an --actor that names an application (display name or
// identifier URI, as every other command takes) into its appId, since the
// audit log records callers by appId. AppIds, and fixed callers that name no
// application, pass as given.
func resolveActor(ctx context.Context, c *adminclient.Client, tenant, actor string) (string, error) {
	if actor == "" {
		return actor, nil
	}
	if _, err := uuid.Parse(actor); err == nil {
		return actor, nil
	}
	if tenant == "" {
		tenant = "default"
	}
	app, err := c.GetApplication(ctx, tenant, actor)
	if err != nil {
		var ae *adminclient.APIError
		if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
			if slices.Contains(fixedActors, actor) {
				return actor, nil
			}
			return "", fmt.Errorf("--actor %q: no application of tenant %s has that name; give the caller's appId, or the name of an application with --tenant TENANT ('portcullis app list' shows them)", actor, tenant)
		}
		return "", fmt.Errorf("--actor %q: look up the application: %w", actor, err)
	}
	return app.AppID, nil
}

// parseAuditTime reads an RFC 3339 time or a YYYY-MM-DD date (UTC).
func parseAuditTime(flag, s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%s %q: give an RFC 3339 time (2026-01-02T15:04:05Z) or a date (2026-01-02)", flag, s)
}

// validAge reports whether s is a duration the server takes for since=:
// Go's (90s, 15m, 1h30m) or whole days (7d).
func validAge(s string) bool {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		d, err := strconv.Atoi(n)
		return err == nil && d >= 1 && d <= 36500
	}
	d, err := time.ParseDuration(s)
	return err == nil && d > 0
}

// noAuditRecords says that nothing matched, and which filters to check: a
// misspelt vault or tenant name matches nothing rather than failing.
func noAuditRecords(q adminclient.AuditQuery) string {
	var named []string
	for _, f := range []struct{ flag, v string }{
		{"--tenant", q.Tenant}, {"--vault", q.Vault}, {"--actor", q.Actor}, {"--operation", q.Operation},
		{"--outcome", q.Outcome}, {"--name", q.Name},
	} {
		if f.v != "" {
			named = append(named, f.flag+" "+f.v)
		}
	}
	if len(named) == 0 {
		return "No audit records in this time range."
	}
	return "No audit records match " + strings.Join(named, ", ") + ". Check the names (portcullis vault list, portcullis tenant list, portcullis app list) and the time range (--since, --from, --to)."
}
