package kvapi

import (
	"log/slog"
	"net/http"

	"github.com/portcullis/portcullis/guard"
	"github.com/portcullis/portcullis/internal/vault"
)

// Refusals are audited and logged at most refusalAuditRate per second
// (bursts of refusalAuditBurst), so that a flood of bad tokens cannot
// flood the audit log; the ones skipped are counted in the next line.
const (
	refusalAuditRate  = 20
	refusalAuditBurst = 100
)

// refused audits and logs a request refused by authenticate: who (when
// the token verified), which vault, the error code and, in the log, the
// reason in words. Never the token.
func (h *Handler) refused(r *http.Request, t target, p *guard.Principal, reqID string, err error) {
	if !h.refusals.Allow() {
		h.refusalsSkipped.Add(1)
		return
	}
	e := vault.AsError(err)
	c := vault.Caller{RequestID: reqID}
	if p != nil {
		c.Principal = *p
	}
	h.cfg.Vault.AuditRefusal(c, t.vault, e.Code, e.Message)
	// A request without any token is how a Key Vault client (the Azure SDKs,
	// the CLI) learns the challenge before its first real request: audited
	// like any refusal, but not worth a line of the server log at Info.
	level := slog.LevelInfo
	if len(r.Header.Values("Authorization")) == 0 {
		level = slog.LevelDebug
	}
	if !h.log.Enabled(r.Context(), level) {
		return // and the count of skipped refusals waits for a line that shows it
	}
	h.log.Log(r.Context(), level, "key vault request refused", "request_id", reqID, "method", r.Method, "vault", clip(t.vault, 64),
		"caller", c.AppID, "code", e.Code, "reason", e.Message, "skipped_since_last", h.refusalsSkipped.Swap(0))
}
