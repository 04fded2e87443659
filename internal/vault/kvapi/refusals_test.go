package kvapi_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/vault"
)

// TestKeyVault_RefusalFloodIsAuditedAtAPacedRate: every refused request may
// be audited, but a flood of bad tokens must not become a flood of audit
// records (issue 6: refusals are audited, rate-limited). Refusals beyond
// the burst are audited at most at the paced rate.
func TestKeyVault_RefusalFloodIsAuditedAtAPacedRate(t *testing.T) {
	const (
		sent  = 300
		burst = 100 // refusalAuditBurst
		rate  = 20  // refusalAuditRate, per second
	)
	e := startEnv(t, "")
	start := time.Now()
	for range sent {
		if status, _, _ := e.raw(t, http.MethodGet, e.pathURL(vault.DefaultVault)+"/secrets/s?api-version=7.5", "not-a-token", "", nil); status != http.StatusUnauthorized {
			t.Fatalf("status %d; want 401", status)
		}
	}
	elapsed := time.Since(start)
	recs, err := e.srv.Vault().AuditLog(context.Background(), vault.Caller{Admin: true}, "", 2*sent)
	if err != nil {
		t.Fatal(err)
	}
	refused := 0
	for _, rec := range recs {
		if rec.Operation == vault.OperationAuthenticate && rec.Outcome == vault.OutcomeRefused {
			refused++
		}
	}
	limit := burst + int(elapsed.Seconds()*rate) + 1
	if refused == 0 || refused > limit {
		t.Fatalf("%d of %d refusals audited in %v; want between 1 and %d", refused, sent, elapsed.Round(time.Millisecond), limit)
	}
}
