package connector

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/sts"
)

// Claims a token-issuance connector can send: the names its input claims'
// claimType may use, taken from the token request.
const (
	ClaimClientAppID   = "appid"  // the client application's app id
	ClaimTenantID      = "tid"    // the tenant id
	ClaimResourceAppID = "aud"    // the resource application's app id
	ClaimRoles         = "roles"  // the granted app roles (a list)
	ClaimClientIP      = "ipaddr" // the client's IP address
	ClaimAuthMethod    = "azpacr" // how the client authenticated: "1" secret, "2" certificate
	ClaimClientName    = "app_displayname"
)

// Enricher is the token service's sts.Enricher over token-issuance
// connectors: before a client-credentials token is minted, every connector
// of the tenant whose tokenIssuance names the token's resource application
// or its client application is called (in name order) with the request's
// claims. Their declared output claims are added to the token; a block or
// a validation error stops issuance with the connector's message; a failing
// connector stops it too (503) unless its failure policy is failOpen.
type Enricher struct {
	log        *slog.Logger
	connectors atomic.Pointer[[]*Connector]
}

var _ sts.Enricher = (*Enricher)(nil)

// NewEnricher returns an Enricher with no connector.
func NewEnricher(log *slog.Logger) *Enricher {
	if log == nil {
		log = slog.Default()
	}
	return &Enricher{log: log}
}

// Use swaps in the compiled connectors (of every tenant); those without
// tokenIssuance are ignored. The caller owns them (and closes the old ones
// once no call uses them).
func (e *Enricher) Use(connectors []*Connector) {
	cs := slices.Clone(connectors)
	slices.SortFunc(cs, func(a, b *Connector) int {
		return cmp.Or(strings.Compare(a.def.TenantID, b.def.TenantID), strings.Compare(a.def.Name, b.def.Name))
	})
	e.connectors.Store(&cs)
}

// Enrich implements sts.Enricher.
func (e *Enricher) Enrich(ctx context.Context, req sts.EnrichRequest) (map[string]any, error) {
	p := e.connectors.Load()
	if p == nil || req.Tenant == nil || req.Client == nil || req.Resource == nil {
		return nil, nil
	}
	var out map[string]any
	var input map[string]any
	for _, c := range *p {
		if !attached(c.def, req) {
			continue
		}
		if input == nil {
			input = inputClaims(req)
		}
		// A connector compiled moments ago (just created, or at start) may
		// not have its vault references resolved yet: wait for them within
		// the call's timeout rather than fail a token at once. Once
		// resolved this returns at once.
		rctx, cancel := context.WithTimeout(ctx, c.timeout)
		_ = c.Ready(rctx) // a reference that stays broken fails in Invoke, saying why
		cancel()
		inv, err := c.Invoke(ctx, input)
		switch {
		case err != nil && c.def.TokenIssuance.FailurePolicy == directory.FailOpen:
			e.log.Warn("token-issuance connector failed; issuing without its claims (failOpen)",
				"tenant", c.def.TenantID, "connector", c.def.Name, "client_id", req.Client.AppID, "err", inv.Error)
			continue
		case err != nil:
			return nil, fmt.Errorf("token-issuance %w", err)
		case inv.Decision == Block:
			return nil, &sts.EnrichmentError{Status: http.StatusForbidden, Description: inv.UserMessage}
		case inv.Decision == ValidationError:
			return nil, &sts.EnrichmentError{Status: http.StatusBadRequest, Description: inv.UserMessage}
		}
		if len(inv.OutputClaims) > 0 {
			if out == nil {
				out = map[string]any{}
			}
			maps.Copy(out, inv.OutputClaims)
		}
	}
	return out, nil
}

// attached reports whether connector d is called for req.
func attached(d directory.Connector, req sts.EnrichRequest) bool {
	ti := d.TokenIssuance
	if ti == nil || !strings.EqualFold(d.TenantID, req.Tenant.ID) {
		return false
	}
	return slices.ContainsFunc(ti.ResourceApps, func(s string) bool { return strings.EqualFold(s, req.Resource.AppID) }) ||
		slices.ContainsFunc(ti.ClientApps, func(s string) bool { return strings.EqualFold(s, req.Client.AppID) })
}

// inputClaims are the claims of a token request a connector can send.
func inputClaims(req sts.EnrichRequest) map[string]any {
	roles := make([]any, len(req.Roles))
	for i, r := range req.Roles {
		roles[i] = r
	}
	m := map[string]any{
		ClaimClientAppID:   req.Client.AppID,
		ClaimTenantID:      req.Tenant.ID,
		ClaimResourceAppID: req.Resource.AppID,
		ClaimRoles:         roles,
		ClaimClientName:    req.Client.DisplayName,
	}
	if req.ClientIP != "" {
		m[ClaimClientIP] = req.ClientIP
	}
	if req.ACR != "" {
		m[ClaimAuthMethod] = req.ACR
	}
	return m
}
