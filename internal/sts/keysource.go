package sts

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"strings"
)

// Errors of Key; callers branch on them with errors.Is.
var (
	// ErrUnknownIssuer: the issuer is not one of this service's tenants.
	ErrUnknownIssuer = errors.New("issuer is not a tenant of this token service")
	// ErrUnknownKey: the tenant does not publish a key with this kid now.
	ErrUnknownKey = errors.New("signing key is not published by the tenant")
)

// Key returns the public key kid that the tenant named by issuer publishes
// now (the key set its JWKS serves: next, active and retired keys within
// their window). It is the in-process key source of bearer verification:
// the vault and the admin API verify this service's tokens through it,
// without an HTTP hop. It is lock-free and allocates nothing when the key
// is found.
//
// The issuer is "{PublicURL}/{tenant id}/v2.0" exactly when
// Config.PublicURL is set; otherwise (issuers derived from each request's
// Host) any "https://{host}/{tenant id}/v2.0". The tenant id is the
// tenant's lower-case GUID as tokens carry it, never its name.
func (s *Server) Key(_ context.Context, issuer, kid string) (crypto.PublicKey, error) {
	tid, ok := s.issuerTenant(issuer)
	st := s.cur.Load()
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownIssuer, clip(issuer, 200))
	}
	t, found := st.snap.Tenant(tid)
	if !found || t.ID != tid {
		return nil, fmt.Errorf("%w: %q", ErrUnknownIssuer, clip(issuer, 200))
	}
	k := st.publishedKey(t.ID, kid, s.now())
	if k == nil {
		return nil, fmt.Errorf("%w: kid %q, issuer %q", ErrUnknownKey, clip(kid, 64), clip(issuer, 200))
	}
	return k.pub, nil
}

// issuerTenant extracts the tenant id from an issuer of this service, or
// reports false when issuer cannot be one.
func (s *Server) issuerTenant(issuer string) (string, bool) {
	const suffix = "/v2.0"
	if !strings.HasSuffix(issuer, suffix) {
		return "", false
	}
	rest := issuer[:len(issuer)-len(suffix)]
	if base := s.cfg.PublicURL; base != "" {
		if len(rest) <= len(base)+1 || rest[:len(base)] != base || rest[len(base)] != '/' {
			return "", false
		}
		rest = rest[len(base)+1:]
	} else {
		const scheme = "https://"
		if !strings.HasPrefix(rest, scheme) {
			return "", false
		}
		host, tid, found := strings.Cut(rest[len(scheme):], "/")
		if !found || host == "" {
			return "", false
		}
		rest = tid
	}
	if rest == "" || strings.IndexByte(rest, '/') >= 0 {
		return "", false
	}
	return rest, true
}
