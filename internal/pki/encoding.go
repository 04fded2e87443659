package pki

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"software.sslmate.com/src/go-pkcs12"
)

// Errors that callers branch on; the errors returned wrap them with detail.
var (
	// ErrNotCertificate means the input is neither DER, PEM nor PFX.
	ErrNotCertificate = errors.New("not a certificate: expected DER, PEM or PFX")
	// ErrWrongPassword means a PFX could not be opened with the given password.
	ErrWrongPassword = errors.New("PFX password is wrong")
	// ErrNoPrivateKey means the input holds a certificate but no private key.
	ErrNoPrivateKey = errors.New("no private key")
	// ErrKeyMismatch means the private key belongs to none of the certificates.
	ErrKeyMismatch = errors.New("private key does not match the certificate")
)

// EncodeCertificatePEM encodes certs as consecutive "CERTIFICATE" PEM blocks;
// nil entries are skipped.
func EncodeCertificatePEM(certs ...*x509.Certificate) []byte {
	var b bytes.Buffer
	for _, c := range certs {
		if c != nil {
			_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
		}
	}
	return b.Bytes()
}

// EncodePrivateKeyPEM encodes key as an unencrypted PKCS#8 "PRIVATE KEY" PEM
// block (RFC 7468 section 10).
func EncodePrivateKeyPEM(key crypto.Signer) ([]byte, error) {
	if key == nil {
		return nil, errors.New("encode private key: no key")
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// EncodePFX writes leaf, key and chain as a password-protected PKCS#12 file.
//
// It uses go-pkcs12's Modern2023 encoder (PBES2 with PBKDF2-HMAC-SHA-256 and
// AES-256-CBC, HMAC-SHA-256 MAC): the OpenSSL 3 default, readable by OpenSSL
// 1.1.1+, Java 12+ and Windows Server 2019 / Windows 10 1709+; the legacy
// RC2/3DES formats are weak and OpenSSL 3 refuses them without its legacy
// provider. Its KDF uses only 2048 iterations, so the password should be
// high-entropy (e.g. generated). An empty password is accepted but
// discouraged: the file is then protected only by its file permissions.
func EncodePFX(leaf *x509.Certificate, key crypto.Signer, chain []*x509.Certificate, password string) ([]byte, error) {
	if leaf == nil || key == nil {
		return nil, errors.New("encode PFX: certificate and key are required")
	}
	if !publicKeysEqual(leaf.PublicKey, key.Public()) {
		return nil, fmt.Errorf("encode PFX: %w", ErrKeyMismatch)
	}
	for i, c := range chain {
		if c == nil {
			return nil, fmt.Errorf("encode PFX: chain certificate %d is nil", i)
		}
	}
	pfx, err := pkcs12.Modern2023.Encode(key, leaf, chain, password)
	if err != nil {
		return nil, fmt.Errorf("encode PFX: %w", err)
	}
	return pfx, nil
}

// ParseCertificateFile reads the public certificate from DER (.cer), PEM
// (the first CERTIFICATE block; other blocks are ignored) or PFX/PKCS#12
// (password may be ""), and returns the leaf certificate: in a PFX the one
// that matches its private key.
func ParseCertificateFile(data []byte, password string) (*x509.Certificate, error) {
	switch sniff(data) {
	case formatPEM:
		blocks, err := decodePEM(data)
		if err != nil {
			return nil, err
		}
		for _, b := range blocks {
			if b.Type == "CERTIFICATE" {
				cert, err := x509.ParseCertificate(b.Bytes)
				if err != nil {
					return nil, fmt.Errorf("PEM CERTIFICATE block: %w", err)
				}
				return cert, nil
			}
		}
		return nil, errors.New("PEM has no CERTIFICATE block")
	case formatDER:
		cert, err := x509.ParseCertificate(data)
		if err != nil {
			return nil, fmt.Errorf("DER certificate: %w", err)
		}
		return cert, nil
	case formatPFX:
		certs, key, err := decodePFX(data, password, false)
		if err != nil {
			return nil, err
		}
		if key != nil {
			if leaf, _, err := selectLeaf(certs, key); err == nil {
				return leaf, nil
			}
		}
		return certs[0], nil
	}
	return nil, ErrNotCertificate
}

// ParseCertificateAndKey reads a certificate with its private key from PEM
// or PFX and returns the leaf (the certificate whose public key matches the
// key), the other certificates in input order, and the key. PEM keys may be
// PKCS#8 "PRIVATE KEY", PKCS#1 "RSA PRIVATE KEY" or SEC1 "EC PRIVATE KEY";
// PKCS#1 or SEC1 content inside a "PRIVATE KEY" block (as Azure Key Vault
// emits) is accepted too. The password applies to PFX only.
func ParseCertificateAndKey(data []byte, password string) (leaf *x509.Certificate, chain []*x509.Certificate, key crypto.Signer, err error) {
	var certs []*x509.Certificate
	switch sniff(data) {
	case formatPEM:
		certs, key, err = parsePEMCertificatesAndKey(data)
	case formatDER:
		err = fmt.Errorf("%w: a DER (.cer) file holds only the certificate; use PEM with the key, or a PFX", ErrNoPrivateKey)
	case formatPFX:
		certs, key, err = decodePFX(data, password, true)
	default:
		err = ErrNotCertificate
	}
	if err != nil {
		return nil, nil, nil, err
	}
	leaf, chain, err = selectLeaf(certs, key)
	if err != nil {
		return nil, nil, nil, err
	}
	return leaf, chain, key, nil
}

type format int

const (
	formatUnknown format = iota
	formatPEM
	formatDER
	formatPFX
)

// sniff tells the input format from its first bytes: a certificate is a
// SEQUENCE that starts with the tbsCertificate SEQUENCE (RFC 5280 section
// 4.1), a PFX one that starts with the version INTEGER (RFC 7292 section 4).
func sniff(data []byte) format {
	if bytes.Contains(data, []byte("-----BEGIN ")) {
		return formatPEM
	}
	var outer asn1.RawValue
	if _, err := asn1.Unmarshal(data, &outer); err != nil || outer.Class != asn1.ClassUniversal || outer.Tag != asn1.TagSequence {
		return formatUnknown
	}
	var first asn1.RawValue
	if _, err := asn1.Unmarshal(outer.Bytes, &first); err != nil || first.Class != asn1.ClassUniversal {
		return formatUnknown
	}
	switch first.Tag {
	case asn1.TagSequence:
		return formatDER
	case asn1.TagInteger:
		return formatPFX
	}
	return formatUnknown
}

// decodePEM returns every PEM block in data, or an error when a block is
// malformed (pem.Decode would silently skip it).
func decodePEM(data []byte) ([]*pem.Block, error) {
	var blocks []*pem.Block
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		blocks = append(blocks, b)
	}
	if want := bytes.Count(data, []byte("-----BEGIN ")); len(blocks) < want {
		return nil, fmt.Errorf("malformed PEM: %d of %d blocks could not be decoded (truncated or corrupt base64?)", want-len(blocks), want)
	}
	return blocks, nil
}

func parsePEMCertificatesAndKey(data []byte) ([]*x509.Certificate, crypto.Signer, error) {
	blocks, err := decodePEM(data)
	if err != nil {
		return nil, nil, err
	}
	var (
		certs []*x509.Certificate
		key   crypto.Signer
	)
	for _, b := range blocks {
		switch b.Type {
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, nil, fmt.Errorf("PEM certificate %d: %w", len(certs)+1, err)
			}
			certs = append(certs, c)
		case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY":
			if key != nil {
				return nil, nil, errors.New("PEM has more than one private key")
			}
			if _, encrypted := b.Headers["DEK-Info"]; encrypted {
				return nil, nil, errors.New("encrypted PEM private keys are not supported: decrypt with `openssl pkey` or use a PFX")
			}
			if key, err = parsePrivateKeyDER(b.Bytes); err != nil {
				return nil, nil, fmt.Errorf("PEM %s: %w", b.Type, err)
			}
		case "ENCRYPTED PRIVATE KEY":
			return nil, nil, errors.New("encrypted PEM private keys are not supported: decrypt with `openssl pkey` or use a PFX")
		}
	}
	if key == nil {
		if len(certs) == 0 {
			return nil, nil, errors.New("PEM has neither a CERTIFICATE nor a PRIVATE KEY block")
		}
		return nil, nil, fmt.Errorf("%w: PEM has no PRIVATE KEY block", ErrNoPrivateKey)
	}
	return certs, key, nil
}

// parsePrivateKeyDER accepts PKCS#8, PKCS#1 and SEC1 whatever the PEM label
// says, because Key Vault labels PKCS#1 content "PRIVATE KEY".
func parsePrivateKeyDER(der []byte) (crypto.Signer, error) {
	var k any
	var err error
	if k, err = x509.ParsePKCS8PrivateKey(der); err != nil {
		if k, err = x509.ParsePKCS1PrivateKey(der); err != nil {
			if k, err = x509.ParseECPrivateKey(der); err != nil {
				return nil, errors.New("not a PKCS#8, PKCS#1 or SEC1 private key")
			}
		}
	}
	return asSigner(k)
}

func asSigner(k any) (crypto.Signer, error) {
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("unsupported private key type %T: want RSA, ECDSA or Ed25519", k)
	}
	return s, nil
}

// decodePFX opens a PKCS#12 file. Without needKey, a file with certificates
// only is accepted as far as go-pkcs12 can read it (Java trust stores).
func decodePFX(data []byte, password string, needKey bool) (certs []*x509.Certificate, key crypto.Signer, err error) {
	// go-pkcs12 parses deep attacker-controlled structures; turn any panic it
	// may have into an error rather than taking the process down.
	defer func() {
		if r := recover(); r != nil {
			certs, key, err = nil, nil, fmt.Errorf("PFX: malformed (%v)", r)
		}
	}()
	if err := checkPFXWork(data, password); err != nil {
		return nil, nil, err
	}
	k, leaf, ca, err := pkcs12.DecodeChain(data, password)
	if err != nil {
		if errors.Is(err, pkcs12.ErrIncorrectPassword) || errors.Is(err, pkcs12.ErrDecryption) {
			return nil, nil, ErrWrongPassword
		}
		if !needKey {
			if ts, tsErr := pkcs12.DecodeTrustStore(data, password); tsErr == nil && len(ts) > 0 {
				return ts, nil, nil
			}
			// go-pkcs12 cannot list the certificates of a key-less PFX.
			if strings.Contains(err.Error(), "private key missing") {
				return nil, nil, errors.New("PFX without a private key is not supported: provide the certificate as DER (.cer) or PEM")
			}
		}
		return nil, nil, fmt.Errorf("PFX: %w", err)
	}
	if key, err = asSigner(k); err != nil {
		return nil, nil, fmt.Errorf("PFX: %w", err)
	}
	return append([]*x509.Certificate{leaf}, ca...), key, nil
}

// selectLeaf returns the certificate matching key and the others in order.
func selectLeaf(certs []*x509.Certificate, key crypto.Signer) (*x509.Certificate, []*x509.Certificate, error) {
	if len(certs) == 0 {
		return nil, nil, errors.New("no certificate found next to the private key")
	}
	for i, c := range certs {
		if publicKeysEqual(c.PublicKey, key.Public()) {
			chain := make([]*x509.Certificate, 0, len(certs)-1)
			chain = append(chain, certs[:i]...)
			return c, append(chain, certs[i+1:]...), nil
		}
	}
	return nil, nil, fmt.Errorf("%w (certificate %q)", ErrKeyMismatch, certs[0].Subject.CommonName)
}
