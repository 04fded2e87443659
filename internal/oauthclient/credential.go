package oauthclient

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/portcullis/portcullis/internal/pki"
)

// ClientAssertionType is the client_assertion_type of a JWT client
// assertion (RFC 7523 section 2.2).
const ClientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// assertionLifetime is how long a client assertion is valid; MSAL Go uses
// 10 minutes (msal-protocol.md section 5).
const assertionLifetime = 10 * time.Minute

// Credential is what a client proves its identity with: a client secret or a
// certificate with its private key. The zero value is no credential. It
// prints without its secret.
type Credential struct {
	secret Secret
	cert   *x509.Certificate
	key    crypto.Signer
	method jwt.SigningMethod
}

// SecretCredential returns a Credential for a client secret.
func SecretCredential(secret Secret) Credential {
	return Credential{secret: secret}
}

// CertificateCredential returns a Credential for a certificate registered on
// the application and its private key: an RSA key (the assertion is signed
// with PS256, as MSAL Go does) or an ECDSA key on P-256, P-384 or P-521
// (ES256, ES384, ES512). The key must match the certificate.
func CertificateCredential(cert *x509.Certificate, key crypto.Signer) (Credential, error) {
	if cert == nil || key == nil {
		return Credential{}, errors.New("certificate credential: need both the certificate and its private key")
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return Credential{}, fmt.Errorf("certificate credential: the private key does not belong to the certificate %q", cert.Subject.String())
	}
	var method jwt.SigningMethod
	switch k := key.(type) {
	case *rsa.PrivateKey:
		method = jwt.SigningMethodPS256
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256():
			method = jwt.SigningMethodES256
		case elliptic.P384():
			method = jwt.SigningMethodES384
		case elliptic.P521():
			method = jwt.SigningMethodES512
		default:
			return Credential{}, fmt.Errorf("certificate credential: unsupported elliptic curve %s", k.Curve.Params().Name)
		}
	default:
		return Credential{}, fmt.Errorf("certificate credential: unsupported private key type %T: use an RSA or ECDSA key", key)
	}
	return Credential{cert: cert, key: key, method: method}, nil
}

// IsCertificate reports whether c is a certificate credential.
func (c Credential) IsCertificate() bool { return c.cert != nil }

// Certificate returns the certificate of a certificate credential, or nil.
func (c Credential) Certificate() *x509.Certificate { return c.cert }

// String describes c without its secret or key.
func (c Credential) String() string {
	switch {
	case c.cert != nil:
		return fmt.Sprintf("certificate %s (SHA-1 %s)", c.cert.Subject.String(), pki.ThumbprintSHA1Hex(c.cert))
	case !c.secret.IsZero():
		return "client secret " + redacted
	}
	return "no credential"
}

// GoString describes c like String.
func (c Credential) GoString() string { return c.String() }

// Format writes String for every verb, so that %+v never prints fields.
func (c Credential) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(c.String())) }

// ClientAssertion returns a signed client assertion JWT for clientID and the
// token endpoint tokenURL, built like MSAL Go's: header alg (PS256 for RSA),
// typ "JWT" and "x5t#S256" (base64url SHA-256 of the certificate DER);
// claims aud = tokenURL, iss = sub = clientID, jti = random UUID, nbf = now,
// exp = now + 10 minutes, no iat.
func (c Credential) ClientAssertion(tokenURL, clientID string, now time.Time) (string, error) {
	if c.cert == nil {
		return "", errors.New("client assertion: the credential is not a certificate")
	}
	t := jwt.NewWithClaims(c.method, jwt.MapClaims{
		"aud": tokenURL,
		"iss": clientID,
		"sub": clientID,
		"jti": uuid.NewString(),
		"nbf": now.Unix(),
		"exp": now.Add(assertionLifetime).Unix(),
	})
	t.Header["x5t#S256"] = pki.X5TS256(c.cert)
	signed, err := t.SignedString(c.key)
	if err != nil {
		return "", fmt.Errorf("client assertion: sign: %w", err)
	}
	return signed, nil
}
