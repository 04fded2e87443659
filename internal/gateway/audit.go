package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

const defaultAuditQueue = 8192

// auditRecord is one decision, queued by value: the request path only
// copies it into the channel; encoding happens on the writer goroutine.
type auditRecord struct {
	at               time.Time
	id               string
	tenant, api      string
	method, path     string
	credential       string
	subject, appID   string
	tenantID, credID string
	outcome          string
	status           int
	reason           reason
	upstream         time.Duration
	source           netip.Addr
}

// auditLine is the JSON form of an audit record. It holds identifiers of
// the credential, never the credential.
type auditLine struct {
	Time       string          `json:"time"`
	DecisionID string          `json:"decisionId"`
	Tenant     string          `json:"tenant,omitempty"`
	API        string          `json:"api,omitempty"`
	Method     string          `json:"method"`
	Path       string          `json:"path"`
	Credential string          `json:"credentialMethod,omitempty"`
	Principal  *auditPrincipal `json:"principal,omitempty"`
	Outcome    string          `json:"outcome"`
	Status     int             `json:"status"`
	Reason     string          `json:"reason"`
	UpstreamMS float64         `json:"upstreamMs,omitempty"`
	SourceIP   string          `json:"sourceIp,omitempty"`
}

type auditPrincipal struct {
	Subject      string `json:"subject,omitempty"`
	AppID        string `json:"appId,omitempty"`
	TenantID     string `json:"tenantId,omitempty"`
	CredentialID string `json:"credentialId,omitempty"`
}

// auditWriter writes audit lines from a bounded queue on its own
// goroutine. When the queue is full the line is dropped and counted: the
// request path never waits for the audit sink.
type auditWriter struct {
	q       chan auditRecord
	flushes chan chan struct{}
	stop    chan struct{}
	done    chan struct{}
	dropped prometheus.Counter
	log     *slog.Logger
}

func newAuditWriter(w io.Writer, size int, dropped prometheus.Counter, log *slog.Logger) *auditWriter {
	a := &auditWriter{q: make(chan auditRecord, size), flushes: make(chan chan struct{}), stop: make(chan struct{}), done: make(chan struct{}),
		dropped: dropped, log: log}
	go a.run(bufio.NewWriterSize(w, 64<<10))
	return a
}

func (a *auditWriter) add(r auditRecord) {
	select {
	case a.q <- r:
	default:
		a.dropped.Inc()
	}
}

func (a *auditWriter) run(w *bufio.Writer) {
	defer close(a.done)
	failed := false
	write := func(r auditRecord) {
		l := auditLine{Time: r.at.UTC().Format(time.RFC3339Nano), DecisionID: r.id, Tenant: r.tenant, API: r.api,
			Method: r.method, Path: r.path, Credential: r.credential, Outcome: r.outcome, Status: r.status,
			Reason: r.reason.String()}
		if r.subject != "" || r.appID != "" || r.tenantID != "" || r.credID != "" {
			l.Principal = &auditPrincipal{r.subject, r.appID, r.tenantID, r.credID}
		}
		if r.upstream > 0 {
			l.UpstreamMS = float64(r.upstream.Microseconds()) / 1000
		}
		if r.source.IsValid() {
			l.SourceIP = r.source.String()
		}
		b, _ := json.Marshal(l)
		w.Write(append(b, '\n'))
	}
	flush := func() {
		if err := w.Flush(); err != nil && !failed {
			failed = true // logged once: a broken sink must not flood the log
			a.log.Error("gateway: audit log write failed", "err", err)
		}
	}
	for {
		select {
		case r := <-a.q:
			write(r)
			if len(a.q) == 0 {
				flush()
			}
		case c := <-a.flushes:
			for n := len(a.q); n > 0; n-- {
				write(<-a.q)
			}
			flush()
			close(c)
		case <-a.stop:
			for n := len(a.q); n > 0; n-- {
				write(<-a.q)
			}
			flush()
			return
		}
	}
}

// flush waits until the lines queued before it are written.
func (a *auditWriter) flush(ctx context.Context) error {
	c := make(chan struct{})
	select {
	case a.flushes <- c:
	case <-a.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-c:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// close writes what is queued and stops the writer; lines added after
// it are dropped and counted.
func (a *auditWriter) close(ctx context.Context) error {
	select {
	case <-a.stop:
	default:
		close(a.stop)
	}
	select {
	case <-a.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
