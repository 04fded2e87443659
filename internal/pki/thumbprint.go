package pki

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// ThumbprintSHA1Hex returns the SHA-1 of the certificate's DER in upper-case
// hex, as Entra and Windows show it.
func ThumbprintSHA1Hex(cert *x509.Certificate) string {
	sum := sha1.Sum(cert.Raw)
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// X5T returns the JOSE "x5t" value of cert: the base64url (unpadded) SHA-1
// of its DER (RFC 7515 section 4.1.7).
func X5T(cert *x509.Certificate) string {
	sum := sha1.Sum(cert.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// X5TS256 returns the JOSE "x5t#S256" value of cert: the base64url
// (unpadded) SHA-256 of its DER (RFC 7515 section 4.1.8).
func X5TS256(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// DecodeThumbprint decodes a JOSE x5t or x5t#S256 value written in base64url
// or standard base64, padded or not (MSAL Go sends padded standard base64),
// and returns the raw SHA-1 (20 bytes) or SHA-256 (32 bytes) digest.
func DecodeThumbprint(s string) ([]byte, error) {
	body := strings.TrimRight(s, "=")
	if pad := len(s) - len(body); pad > 2 || pad > 0 && len(s)%4 != 0 {
		return nil, errors.New("thumbprint: bad base64 padding")
	}
	url := strings.ContainsAny(body, "-_")
	if url && strings.ContainsAny(body, "+/") {
		return nil, errors.New("thumbprint: mixes base64url and standard base64 alphabets")
	}
	enc := base64.RawStdEncoding
	if url {
		enc = base64.RawURLEncoding
	}
	// The decoder skips embedded CR and LF, even in strict mode.
	if strings.ContainsAny(body, "\r\n") {
		return nil, errors.New("thumbprint: not base64")
	}
	// Strict refuses non-zero trailing bits, so each digest has one spelling.
	raw, err := enc.Strict().DecodeString(body)
	if err != nil {
		return nil, fmt.Errorf("thumbprint: not base64: %w", err)
	}
	if len(raw) != sha1.Size && len(raw) != sha256.Size {
		return nil, fmt.Errorf("thumbprint: %d bytes; want a SHA-1 (20) or SHA-256 (32) digest", len(raw))
	}
	return raw, nil
}
