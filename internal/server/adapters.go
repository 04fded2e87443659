package server

import (
	"context"

	"github.com/portcullis/portcullis/internal/admin"
	"github.com/portcullis/portcullis/internal/sts"
)

// tokenVerifier lets the admin API verify bearer tokens with the token
// service that issued them.
type tokenVerifier struct{ s *sts.Server }

func (v tokenVerifier) VerifyAccessToken(raw string) (admin.AccessToken, error) {
	c, err := v.s.VerifyAccessToken(raw)
	if err != nil {
		return admin.AccessToken{}, err
	}
	return admin.AccessToken{TenantID: c.TenantID, Audience: c.Audience, AppID: c.AppID, Roles: c.Roles}, nil
}

// keyManager exposes the token service's signing keys to the admin API.
type keyManager struct{ s *sts.Server }

func (m keyManager) EnsureSigningKey(ctx context.Context, tenantID string) error {
	return m.s.EnsureSigningKey(ctx, tenantID)
}

func (m keyManager) RotateSigningKeys(ctx context.Context, tenantID string, immediate bool) (string, error) {
	return m.s.RotateSigningKeys(ctx, tenantID, immediate)
}

func (m keyManager) SigningKeys(tenantID string) ([]admin.SigningKey, error) {
	keys, err := m.s.SigningKeys(tenantID)
	if err != nil {
		return nil, err
	}
	out := make([]admin.SigningKey, len(keys))
	for i, k := range keys {
		out[i] = admin.SigningKey{KID: k.KID, Status: k.Status, CreatedAt: k.CreatedAt, ActivateAt: k.ActivateAt, PublishedUntil: k.PublishedUntil}
	}
	return out, nil
}
