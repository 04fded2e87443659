package guard

import (
	"context"
	"fmt"
	"net/http"
)

// A ClientDirectory knows which client applications exist in the tenants
// it holds: the Portcullis token service is one, in process.
type ClientDirectory interface {
	// ClientExists reports whether the directory holds tenantID and, if
	// it does, whether appID is an application registered there now.
	ClientExists(tenantID, appID string) (holds, exists bool)
}

// RequireExistingClient wraps a so that a Principal whose tenant d holds
// but whose client application d does not (deleted since the token was
// issued) is refused at once with 401 invalid_token. Entra ID lets the
// tokens of a deleted application live until they expire; an API that
// sees the directory does better. Principals of tenants d does not hold
// (another issuer) pass unchanged. The check runs on every request, after
// the Verifier's cache, so a deletion takes effect on the next request.
func RequireExistingClient(a Authenticator, d ClientDirectory) Authenticator {
	return existingClient{a: a, d: d}
}

type existingClient struct {
	a Authenticator
	d ClientDirectory
}

func (e existingClient) Authenticate(r *http.Request) (*Principal, error) {
	return e.authenticateWithin(r.Context(), r)
}

func (e existingClient) authenticateWithin(ctx context.Context, r *http.Request) (*Principal, error) {
	p, err := authenticateWithin(ctx, e.a, r)
	if err != nil || p == nil || p.TenantID == "" {
		return p, err
	}
	if holds, exists := e.d.ClientExists(p.TenantID, p.AppID); holds && !exists {
		return nil, invalidToken(fmt.Sprintf("the client application %s no longer exists in tenant %s: its tokens stopped working when it was deleted", clip(p.AppID, 64), clip(p.TenantID, 64)))
	}
	return p, nil
}

func (e existingClient) describe() (string, string) {
	if d, ok := e.a.(interface{ describe() (string, string) }); ok {
		return d.describe()
	}
	return "credentials", ""
}
