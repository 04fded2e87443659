package sts

import "time"

// SigningKey is a tenant's token-signing key as KeyStore keeps it. Which key
// signs and which are published is derived from the times, never stored as
// a state: the signer is the key with the latest ActivateAt not after now; a
// key is published from its creation until the next key's ActivateAt plus
// the longest token lifetime, so tokens it signed keep verifying.
type SigningKey struct {
	TenantID   string
	KID        string
	Algorithm  string // "RS256"
	PublicDER  []byte // PKIX public key
	CertDER    []byte // self-signed certificate for x5c/x5t in JWKS
	Sealed     []byte // PKCS#8 private key sealed by package seal
	CreatedAt  time.Time
	ActivateAt time.Time
}
