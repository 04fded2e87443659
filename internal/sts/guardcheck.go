package sts

import (
	"context"
	"math"
	"net/http"
	"strconv"

	"github.com/portcullis/portcullis/guard"
)

// ApplicationSecrets is a guard.PasswordChecker over the applications of one
// tenant: the Basic user is an application's client id, the password one of
// its client secrets, checked by CheckClientSecret (constant time per
// secret, validity dates, the per-client failure budget). The Principal is
// the application, as a token it obtained would describe it. It is how
// guard.Basic admits an application by its own credentials.
type ApplicationSecrets struct {
	Server *Server
	Tenant string // id or name
}

// CheckPassword implements guard.PasswordChecker.
func (a ApplicationSecrets) CheckPassword(ctx context.Context, clientID, secret string) (*guard.Principal, error) {
	c, e := a.Server.CheckClientSecret(ctx, a.Tenant, clientID, secret)
	if e != nil {
		return nil, guardRefusal(e)
	}
	return &guard.Principal{
		Method:       guard.MethodBasic,
		Subject:      c.Application.ObjectID,
		TenantID:     c.Tenant.ID,
		AppID:        c.Application.AppID,
		ObjectID:     c.Application.ObjectID,
		CredentialID: c.CredentialID,
	}, nil
}

// guardRefusal turns a client-authentication failure into guard's
// refusal: a throttled client or source stays 429 (with the wait in words,
// in whole seconds rounded up as the token endpoint's Retry-After),
// a server-side failure 503, everything else 401 with the token service's
// words (which never hold the secret).
func guardRefusal(e *Error) *guard.Error {
	switch {
	case e.Status == http.StatusTooManyRequests:
		return &guard.Error{Status: http.StatusTooManyRequests, Code: guard.CodeTemporarilyUnavailable,
			Description: e.Message + " (retry after " + strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds()))) + " s)"}
	case e.Status >= 500:
		return &guard.Error{Status: http.StatusServiceUnavailable, Code: guard.CodeTemporarilyUnavailable, Description: e.Message}
	}
	return &guard.Error{Status: http.StatusUnauthorized, Code: guard.CodeInvalidToken, Description: e.Message}
}
