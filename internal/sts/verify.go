package sts

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrInvalidToken is wrapped by every VerifyAccessToken failure.
var ErrInvalidToken = errors.New("invalid access token")

// verifyLeeway tolerates clock skew between nodes of a cluster.
const verifyLeeway = time.Minute

// Claims are the verified claims of an access token issued by this service.
type Claims struct {
	TenantID   string    // tid
	Issuer     string    // iss
	Audience   string    // aud: the resource's application id
	AppID      string    // azp: the client's application id
	AuthMethod string    // azpacr: "1" secret, "2" certificate
	ObjectID   string    // oid (= sub): the client's service principal
	Roles      []string  // granted app roles; nil when none
	TokenID    string    // uti
	IssuedAt   time.Time // iat
	NotBefore  time.Time // nbf
	ExpiresAt  time.Time // exp
}

// VerifyAccessToken verifies an access token issued by this service: RS256
// only, signed by a key the token's tenant publishes now, within exp/nbf
// (one minute of skew), ver "2.0", and issued by that tenant. It does not
// check the audience: the caller compares Claims.Audience with its own
// resource application id (and Claims.TenantID with its tenant).
func (s *Server) VerifyAccessToken(raw string) (Claims, error) {
	bad := func(format string, a ...any) (Claims, error) {
		return Claims{}, fmt.Errorf("%w: %s", ErrInvalidToken, fmt.Sprintf(format, a...))
	}
	if len(raw) > 16<<10 {
		return bad("longer than 16 KiB")
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return bad("not a compact JWS (three dot-separated parts)")
	}
	hb, err := decodeSegment(parts[0])
	if err != nil {
		return bad("header is not base64url")
	}
	var hdr struct {
		Alg  string   `json:"alg"`
		Kid  string   `json:"kid"`
		Crit []string `json:"crit"`
	}
	if err := json.Unmarshal(hb, &hdr); err != nil {
		return bad("header is not JSON")
	}
	if hdr.Alg != "RS256" {
		return bad("alg %q is not accepted; tokens are RS256", clip(hdr.Alg, 20))
	}
	if len(hdr.Crit) > 0 {
		return bad("unsupported critical header parameters")
	}
	pb, err := decodeSegment(parts[1])
	if err != nil {
		return bad("payload is not base64url")
	}
	var c accessTokenClaims
	if err := json.Unmarshal(pb, &c); err != nil {
		return bad("payload is not a JSON claim set of the expected shape")
	}
	sig, err := decodeSegment(parts[2])
	if err != nil {
		return bad("signature is not base64url")
	}
	now := s.now()
	st := s.cur.Load()
	t, ok := st.snap.Tenant(c.Tid)
	if !ok || !strings.EqualFold(t.ID, c.Tid) {
		return bad("tenant %q is not served here", clip(c.Tid, 64))
	}
	key := st.publishedKey(t.ID, hdr.Kid, now)
	if key == nil {
		return bad("signing key %q is not published by tenant %s", clip(hdr.Kid, 64), t.ID)
	}
	digest := sha256.Sum256([]byte(raw[:len(parts[0])+1+len(parts[1])]))
	if err := rsa.VerifyPKCS1v15(key.pub, crypto.SHA256, digest[:], sig); err != nil {
		return bad("signature does not verify")
	}
	if c.Ver != "2.0" {
		return bad("ver %q; want 2.0", clip(c.Ver, 10))
	}
	if !strings.HasSuffix(c.Iss, "/"+t.ID+"/v2.0") {
		return bad("issuer %q is not tenant %s's", clip(c.Iss, 200), t.ID)
	}
	exp, nbf := time.Unix(c.Exp, 0), time.Unix(c.Nbf, 0)
	if c.Exp == 0 || now.After(exp.Add(verifyLeeway)) {
		return bad("expired at %s", fmtTime(exp))
	}
	if now.Add(verifyLeeway).Before(nbf) {
		return bad("not valid before %s", fmtTime(nbf))
	}
	return Claims{
		TenantID: t.ID, Issuer: c.Iss, Audience: c.Aud, AppID: c.Azp, AuthMethod: c.Azpacr,
		ObjectID: c.Oid, Roles: c.Roles, TokenID: c.Uti,
		IssuedAt: time.Unix(c.Iat, 0), NotBefore: nbf, ExpiresAt: exp,
	}, nil
}
