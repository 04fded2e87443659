package gateway

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509/pkix"
	"encoding/pem"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/guard"
	"github.com/portcullis/portcullis/internal/pki"
	"github.com/portcullis/portcullis/internal/vault"
	"github.com/portcullis/portcullis/internal/vaultwatch"
)

// One vault pass that changes a certificate and a secret together (the
// first pass after a restart resolves everything at once) recompiles the
// certificate's APIs; the APIs of the secret must see their secret's new
// state too, not keep the old 503 reason ("not resolved yet", "not found")
// or the old "serving" until the next write. Seen after restarting
// 'serve --dev' with the gateway guide's APIs: orders-basic stayed 503.
func TestVaultChanged_SecretChangedInACertificatePassUpdatesHealth(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	nextCA, err := pki.SelfSigned(pkix.Name{CommonName: "partner CA 2027"}, key, 24*time.Hour, time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		secretFirst bool // the secret exists when the APIs are applied
		secretAfter bool // and after the write that also changes the CA
		wantProblem string
	}{
		{"the secret appears with a new CA", false, true, ""},
		{"the secret goes away with a new CA", true, false, "cannot be resolved"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			h.vault.setCert("main", "partner-ca", testCert)
			if tt.secretFirst {
				h.vault.set("main", "pw", testPassword)
			}
			basic := basicAPI("t1", "orders-basic", "/basic", "connector", "vault://main/secrets/pw")
			partners := basicAPI("t1", "partners", "/partners", "x", "vault://main/secrets/unused")
			partners.Policy.Methods = []guard.MethodSpec{{Type: guard.SpecClientCertificate, TrustedCAs: []string{"vault://main/certificates/partner-ca"}}}
			h.apply(t, basic, partners)
			waitFor(t, "references resolved", h.g.res.Settled)
			waitFor(t, "health computed", func() bool {
				p := h.g.routes.Load().byKey["t1/orders-basic"].problem()
				return !strings.Contains(p, "not resolved yet") && (p == "") == tt.secretFirst
			})

			// One write moves both: the pass that sees it changes a certificate and a secret.
			h.vault.mu.Lock()
			h.vault.rev++
			if tt.secretAfter {
				h.vault.secrets["main/pw"] = fakeSecret{testPassword, "00000000000000000000000000000abc"}
			} else {
				delete(h.vault.secrets, "main/pw")
			}
			h.vault.certs["main/partner-ca"] = vault.ResolvedCertificate{Leaf: nextCA}
			h.vault.mu.Unlock()

			waitFor(t, "the new CA compiled in", func() bool {
				a := h.g.routes.Load().byKey["t1/partners"]
				v := a.certs[0].e.Load()
				return v != nil && v.Certificate != nil && v.Certificate.Leaf.Equal(nextCA) && !a.stale()
			})
			waitFor(t, "orders-basic's health follows its secret", func() bool {
				p := h.g.routes.Load().byKey["t1/orders-basic"].problem()
				return (tt.wantProblem == "" && p == "") || (tt.wantProblem != "" && strings.Contains(p, tt.wantProblem))
			})
			v := h.g.Evaluate(request("GET", "https://h.test/basic/x", "Authorization", basicAuth("connector", testPassword)), false)
			if v.Forward() != (tt.wantProblem == "") {
				t.Errorf("Evaluate: forward %v, status %d %s", v.Forward(), v.Status, v.Body)
			}
			v.Done(max(v.Status, http.StatusOK), 0, nil)
		})
	}
}

// TestRefreshHealth_AStaleReadDoesNotOverwriteTheWatchersFreshOne holds
// Apply's second health computation (made after the routes are stored,
// while the secret is still unresolved) until the vault watcher has
// resolved the secret and called VaultChanged. Without the per-API lock,
// the callback stored "healthy" first and Apply's stale "not resolved yet"
// last, and the API answered 503 until the next vault change.
func TestRefreshHealth_AStaleReadDoesNotOverwriteTheWatchersFreshOne(t *testing.T) {
	h := newHarness(t, nil)
	h.vault.set("main", "k", testKey)
	var calls atomic.Int32
	released := make(chan struct{})
	testHookHealthComputed = func(a *API, p string) {
		if a.Name != "orders" || !strings.HasSuffix(p, vaultwatch.NotResolvedYet) || calls.Add(1) != 2 {
			return
		}
		// Apply's call after the Store: let a watcher pass resolve the
		// secret and run its callback now, and wait until that callback
		// has stored the healthy state or is held behind this call.
		h.g.res.Wake()
		deadline := time.Now().Add(time.Second)
		for time.Now().Before(deadline) {
			if s := a.health.Load(); s != nil && *s == "" {
				break
			}
			time.Sleep(time.Millisecond) // polling a condition, not waiting for time to pass
		}
		close(released)
	}
	t.Cleanup(func() { testHookHealthComputed = nil })
	h.apply(t, apiKeyAPI("t1", "orders", "/orders", "vault://main/secrets/k"))
	select {
	case <-released:
	default:
		t.Skip("a watcher pass resolved the secret before Apply's second health computation: the interleaving under test did not happen")
	}
	waitFor(t, "the API healthy after its secret resolved", func() bool {
		s := h.g.routes.Load().byKey["t1/orders"].health.Load()
		return s != nil && *s == ""
	})
}

// TestRefreshHealth_AVaultCRLResolvedBeforeTheRoutesAreStoredIsParsed holds
// Apply's first health computation of a new API (made before the routes are
// stored, its CRL secret unresolved) until the vault watcher has resolved
// that secret and run VaultChanged, which then saw the old routes only.
// Apply's computation after the Store must parse the list: the API is
// healthy from then on, and event loops never parse a list themselves.
func TestRefreshHealth_AVaultCRLResolvedBeforeTheRoutesAreStoredIsParsed(t *testing.T) {
	h := newHarness(t, nil)
	ca := newRevocationCA(t)
	h.vault.set("main", "k", testKey)
	h.apply(t, apiKeyAPI("t1", "other", "/other", "vault://main/secrets/k"))
	h.settle(t)
	h.vault.set("main", "clients-crl", string(pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: ca.crl(t, 1)})))

	refreshedOther := make(chan struct{}, 64) // VaultChanged refreshes every API of the stored routes
	var held atomic.Bool
	interleaved := false
	testHookHealthComputed = func(a *API, p string) {
		switch {
		case a.Name == "other":
			select {
			case refreshedOther <- struct{}{}:
			default:
			}
		case a.Name == "crlvault" && strings.HasSuffix(p, vaultwatch.NotResolvedYet) && held.CompareAndSwap(false, true):
			for len(refreshedOther) > 0 {
				<-refreshedOther
			}
			h.g.res.Wake()
			deadline := time.After(5 * time.Second)
			for a.vaultCRLs[0].h.Current() == nil {
				select {
				case <-deadline:
					return
				case <-time.After(time.Millisecond): // polling a condition, not waiting for time to pass
				}
			}
			select {
			case <-refreshedOther:
				interleaved = true
			case <-deadline:
			}
		}
	}
	t.Cleanup(func() { testHookHealthComputed = nil })
	a := apiKeyAPI("t1", "crlvault", "/crlvault", "unused")
	a.Policy.Methods = []guard.MethodSpec{{Type: guard.SpecClientCertificate, TrustedCAs: []string{ca.pem()},
		Revocation: &guard.RevocationSpec{CRLs: []string{"vault://main/secrets/clients-crl"}}}}
	h.apply(t, apiKeyAPI("t1", "other", "/other", "vault://main/secrets/k"), a)
	if !interleaved {
		t.Skip("the watcher did not resolve the CRL while Apply's first health computation was held: the interleaving under test did not happen")
	}
	api := h.g.routes.Load().byKey["t1/crlvault"]
	if p := api.problem(); p != "" {
		t.Errorf("the API answers 503 after Apply: %s", p)
	}
	if api.vaultCRLs[0].CurrentCRL() == nil {
		t.Error("the API serves with its CRL resolved but never parsed: every certificate it checks gets 503 until the secret changes")
	}
}
