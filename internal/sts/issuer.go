package sts

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"
)

// accessTokenClaims is Entra's v2.0 app-only claim set (msal-protocol.md §8).
type accessTokenClaims struct {
	Aud      string `json:"aud"`
	Iss      string `json:"iss"`
	Iat      int64  `json:"iat"`
	Nbf      int64  `json:"nbf"`
	Exp      int64  `json:"exp"`
	Azp      string `json:"azp"`
	Azpacr   string `json:"azpacr"`
	AppID    string `json:"appid"`
	AppIDAcr string `json:"appidacr"`
	// Cnf binds the token to the client's certificate (RFC 8705 §3.1),
	// only for a resource that requires it: other tokens are unchanged.
	Cnf   *confirmation `json:"cnf,omitempty"`
	Idtyp string        `json:"idtyp"`
	Oid   string        `json:"oid"`
	Roles []string      `json:"roles,omitempty"`
	Sub   string        `json:"sub"`
	Tid   string        `json:"tid"`
	Uti   string        `json:"uti"`
	Ver   string        `json:"ver"`
}

// confirmation is the cnf claim of a certificate-bound token.
type confirmation struct {
	X5tS256 string `json:"x5t#S256"`
}

// Issuer mints access tokens, the last phase of a token request: Entra's
// v2.0 app-only claim set for an authenticated, authorized client, signed
// RS256 by the tenant's active signing key. It decides nothing about who
// may have a token; the phases before it do.
type Issuer struct {
	cur             *atomic.Pointer[state]
	log             *slog.Logger
	defaultLifetime time.Duration
	maxLifetime     time.Duration
}

// IssueRequest is what a token is minted from.
type IssueRequest struct {
	// BaseURL is the public "https://host[:port]"; the issuer is
	// BaseURL/{tenant id}/v2.0.
	BaseURL       string
	Client        AuthenticatedClient
	Authorization Authorization
	// ExtraClaims come from the Enricher, reserved names already removed.
	ExtraClaims map[string]any
	// Now is the issue time.
	Now time.Time
}

// AccessToken is a minted token.
type AccessToken struct {
	Token    string        // the compact JWS
	Lifetime time.Duration // exp − iat, whole seconds
	KID      string        // the signing key
	UTI      string        // the token's unique id (uti claim)
}

// Issue mints the token. Its errors are server-side: no active signing key
// (503), extra claims that do not encode as JSON (503) or a failed signature
// (500).
func (i *Issuer) Issue(req IssueRequest) (AccessToken, *Error) {
	t, app, res := req.Client.Tenant, req.Client.Application, req.Authorization.Resource
	key := i.cur.Load().signer(t.ID, req.Now)
	if key == nil {
		return AccessToken{}, newError(http.StatusServiceUnavailable, "temporarily_unavailable", CodeNoSigningKey,
			"The tenant '%s' has no active signing key yet. Retry shortly; if this persists, ask the operator to create one "+
				"(signing keys are created on start and by rotation).", t.Name)
	}
	lifetime := res.AccessTokenLifetime
	if lifetime <= 0 {
		lifetime = i.defaultLifetime
	}
	lifetime = min(lifetime, i.maxLifetime).Truncate(time.Second)
	iat := req.Now.Unix()
	acr := req.Client.ACR
	claims := accessTokenClaims{
		Aud: res.AppID, Iss: req.BaseURL + "/" + t.ID + "/v2.0",
		Iat: iat, Nbf: iat, Exp: iat + int64(lifetime/time.Second),
		Azp: app.AppID, Azpacr: acr, AppID: app.AppID, AppIDAcr: acr, Idtyp: "app",
		Oid: app.ObjectID, Sub: app.ObjectID, Tid: t.ID,
		Roles: req.Authorization.Roles,
		Uti:   randomToken(), Ver: "2.0",
	}
	if res.RequireCertificateBoundTokens {
		// authorize refused a client without a certificate; this is the
		// last line, should another path reach here.
		if req.Client.CertificateS256 == "" {
			return AccessToken{}, certificateRequired(&req.Client, res)
		}
		claims.Cnf = &confirmation{X5tS256: req.Client.CertificateS256}
	}
	payload, err := json.Marshal(&claims)
	if err != nil {
		return AccessToken{}, signingFailed()
	}
	if len(req.ExtraClaims) > 0 {
		extra, err := json.Marshal(req.ExtraClaims)
		if err != nil {
			return AccessToken{}, enrichmentFailed()
		}
		if len(extra) > 2 { // "{}" adds nothing
			payload = append(payload[:len(payload)-1], ',')
			payload = append(payload, extra[1:]...)
		}
	}
	tok, err := sign(key, payload)
	if err != nil {
		i.log.Error("token signing failed", "tenant", t.ID, "kid", key.kid, "err", err)
		return AccessToken{}, signingFailed()
	}
	return AccessToken{Token: tok, Lifetime: lifetime, KID: key.kid, UTI: claims.Uti}, nil
}

func signingFailed() *Error {
	return newError(http.StatusInternalServerError, "server_error", CodeNoSigningKey, "The token could not be signed; retry later.")
}

// sign encodes and signs a JWS with key: the precomputed header, the
// payload, and an RS256 signature over both.
func sign(key *signingKey, payload []byte) (string, error) {
	enc := base64.RawURLEncoding
	buf := make([]byte, 0, len(key.header)+enc.EncodedLen(len(payload))+1+enc.EncodedLen(key.priv.Size()))
	buf = append(buf, key.header...)
	buf = enc.AppendEncode(buf, payload)
	digest := sha256.Sum256(buf)
	sig, err := rsa.SignPKCS1v15(nil, key.priv, crypto.SHA256, digest[:])
	if err != nil {
		return "", err
	}
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, sig)
	return string(buf), nil
}
