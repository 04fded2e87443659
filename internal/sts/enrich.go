package sts

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"slices"

	"github.com/portcullis/portcullis/internal/directory"
)

// An Enricher adds claims to an access token just before it is minted, or
// blocks its issuance: the seam where a token-issuance connector plugs in
// (Config.Enricher; nil adds nothing). It runs once per token request that
// passed authentication and authorization, on the request's context, so it
// must be quick or bound its own time.
//
// Returned claims are added to the token, except reserved ones (the
// claims the service itself sets, see ReservedClaims), which are dropped
// and logged: a connector cannot change who the token is for, who it names
// or how long it lives. To block issuance, return an *EnrichmentError; any
// other error answers 503 temporarily_unavailable (AADSTS1100001) without
// its text, which is logged for the operator: an Enricher's errors must
// not carry credentials.
type Enricher interface {
	Enrich(ctx context.Context, req EnrichRequest) (map[string]any, error)
}

// EnrichRequest is what an Enricher decides on. The pointers share the
// directory snapshot: read them, never modify them.
type EnrichRequest struct {
	Tenant   *directory.Tenant
	Client   *directory.Application // the authenticated client
	Resource *directory.Application // the resource the token is for
	Roles    []string               // the granted roles (a copy)
	// Method and ACR tell how the client authenticated (see
	// AuthenticatedClient).
	Method, ACR string
	// ClientIP is the IP address of the TCP peer that asked for the token
	// (behind a reverse proxy, the proxy's).
	ClientIP string
}

// EnrichmentError is an Enricher's refusal to issue a token: the client
// gets Status (400, the default, or 403) with OAuth error
// "unauthorized_client", AADSTS501051 (Entra's refusal of an application
// that is not assigned to the resource) and Description, which must say
// what was refused and what to do, and never a secret.
type EnrichmentError struct {
	Status      int
	Description string
}

// Error returns the description.
func (e *EnrichmentError) Error() string {
	if e == nil {
		return "token issuance refused (nil *EnrichmentError)"
	}
	return "token issuance refused: " + e.Description
}

// ReservedClaims are the claims the service sets; an Enricher cannot
// override them (nor jti, scp, nonce and cnf, which would change a
// validator's reading of the token).
var ReservedClaims = []string{"aud", "iss", "iat", "nbf", "exp", "azp", "azpacr", "appid", "appidacr", "idtyp",
	"oid", "sub", "tid", "roles", "ver", "uti", "jti", "scp", "nonce", "cnf"}

func isReservedClaim(name string) bool { return slices.Contains(ReservedClaims, name) }

// enrich is the phase before minting: it calls the Enricher and returns
// the claims to add, reserved ones removed.
func (s *Server) enrich(ctx context.Context, client *AuthenticatedClient, authz *Authorization, clientIP string) (map[string]any, *Error) {
	if s.cfg.Enricher == nil {
		return nil, nil
	}
	claims, err := s.cfg.Enricher.Enrich(ctx, EnrichRequest{
		Tenant: client.Tenant, Client: client.Application, Resource: authz.Resource,
		Roles: slices.Clone(authz.Roles), Method: client.Method, ACR: client.ACR, ClientIP: clientIP,
	})
	if err != nil {
		var refused *EnrichmentError
		if errors.As(err, &refused) && refused != nil {
			status := refused.Status
			if status != http.StatusForbidden {
				status = http.StatusBadRequest
			}
			return nil, newError(status, "unauthorized_client", CodeIssuanceRefused,
				"The token for application '%s' to resource '%s' was refused by the token-issuance policy: %s",
				client.Application.AppID, authz.Resource.AppID, clip(refused.Description, 500))
		}
		s.log.LogAttrs(ctx, slog.LevelWarn, "token enrichment failed",
			slog.String("tenant", client.Tenant.ID), slog.String("client_id", client.Application.AppID),
			slog.String("resource", authz.Resource.AppID), slog.String("err", err.Error()))
		return nil, enrichmentFailed()
	}
	reserved := false
	for name := range claims {
		if isReservedClaim(name) {
			reserved = true
			s.log.LogAttrs(ctx, slog.LevelWarn, "token enrichment tried to set a reserved claim; dropped",
				slog.String("claim", clip(name, 40)), slog.String("tenant", client.Tenant.ID),
				slog.String("client_id", client.Application.AppID), slog.String("resource", authz.Resource.AppID))
		}
	}
	if !reserved {
		return claims, nil
	}
	// A copy: the Enricher may return the same map every time.
	out := maps.Clone(claims)
	maps.DeleteFunc(out, func(name string, _ any) bool { return isReservedClaim(name) })
	return out, nil
}

// enrichmentFailed is the answer when an Enricher failed or returned
// claims that cannot be encoded: retryable, without the internal cause.
func enrichmentFailed() *Error {
	return newError(http.StatusServiceUnavailable, "temporarily_unavailable", CodeEnrichmentFailed,
		"The token could not be issued because a token-issuance connector failed. Retry later; if this persists, "+
			"ask the operator to check the connector (the cause is in the service's log).")
}
