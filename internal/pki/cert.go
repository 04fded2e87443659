package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"
)

// backdate is subtracted from NotBefore so that a certificate is valid at
// once on hosts whose clocks are a little behind the issuer's.
const backdate = 5 * time.Minute

// SelfSigned makes a self-signed leaf certificate for subject and key that is
// usable as a client-authentication (and server) certificate: KeyUsage
// DigitalSignature (plus KeyEncipherment for RSA), EKU ClientAuth and
// ServerAuth, a random 128-bit serial, valid from now-5min to now+validity.
func SelfSigned(subject pkix.Name, key crypto.Signer, validity time.Duration, now time.Time) (*x509.Certificate, error) {
	if key == nil {
		return nil, errors.New("self-signed certificate: no key")
	}
	if validity <= 0 {
		return nil, fmt.Errorf("self-signed certificate: validity must be positive, got %s", validity)
	}
	if subject.CommonName == "" {
		return nil, errors.New("self-signed certificate: subject has no CN")
	}
	tmpl, err := template(subject, key.Public(), validity, now)
	if err != nil {
		return nil, fmt.Errorf("self-signed certificate: %w", err)
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	if _, ok := key.Public().(*rsa.PublicKey); ok {
		tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
	}
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth}
	return create(tmpl, tmpl, key.Public(), key)
}

// NewCA makes a self-signed EC P-256 certificate authority named commonName,
// for development TLS; it may sign leaf certificates only (path length 0).
func NewCA(commonName string, validity time.Duration, now time.Time) (*x509.Certificate, crypto.Signer, error) {
	if commonName == "" {
		return nil, nil, errors.New("new CA: empty common name")
	}
	if validity <= 0 {
		return nil, nil, fmt.Errorf("new CA: validity must be positive, got %s", validity)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("new CA: generate key: %w", err)
	}
	tmpl, err := template(pkix.Name{CommonName: commonName}, key.Public(), validity, now)
	if err != nil {
		return nil, nil, fmt.Errorf("new CA: %w", err)
	}
	tmpl.IsCA = true
	tmpl.MaxPathLen = 0
	tmpl.MaxPathLenZero = true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	cert, err := create(tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("new CA: %w", err)
	}
	return cert, key, nil
}

// NewServerCertificate issues an EC P-256 server certificate (EKU
// ServerAuth) signed by ca for hosts, each a DNS name or an IP address; the
// first host is also the CN, and NotAfter is capped at the CA's NotAfter.
func NewServerCertificate(ca *x509.Certificate, caKey crypto.Signer, hosts []string, validity time.Duration, now time.Time) (*x509.Certificate, crypto.Signer, error) {
	switch {
	case ca == nil || caKey == nil:
		return nil, nil, errors.New("server certificate: no CA certificate or key")
	case !ca.IsCA:
		return nil, nil, fmt.Errorf("server certificate: %q is not a CA certificate", ca.Subject.CommonName)
	case !publicKeysEqual(ca.PublicKey, caKey.Public()):
		return nil, nil, errors.New("server certificate: CA key does not match the CA certificate")
	case len(hosts) == 0:
		return nil, nil, errors.New("server certificate: no hosts")
	case validity <= 0:
		return nil, nil, fmt.Errorf("server certificate: validity must be positive, got %s", validity)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("server certificate: generate key: %w", err)
	}
	tmpl, err := template(pkix.Name{CommonName: hosts[0]}, key.Public(), validity, now)
	if err != nil {
		return nil, nil, fmt.Errorf("server certificate: %w", err)
	}
	if tmpl.NotAfter.After(ca.NotAfter) {
		tmpl.NotAfter = ca.NotAfter
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		} else {
			return nil, nil, errors.New("server certificate: empty host name")
		}
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	cert, err := create(tmpl, ca, key.Public(), caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("server certificate: %w", err)
	}
	return cert, key, nil
}

func template(subject pkix.Name, pub crypto.PublicKey, validity time.Duration, now time.Time) (*x509.Certificate, error) {
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	skid, err := subjectKeyID(pub)
	if err != nil {
		return nil, err
	}
	return &x509.Certificate{
		SerialNumber:          serial,
		Subject:               subject,
		NotBefore:             now.Add(-backdate).UTC(),
		NotAfter:              now.Add(validity).UTC(),
		SubjectKeyId:          skid,
		BasicConstraintsValid: true,
	}, nil
}

func create(tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) (*x509.Certificate, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		return nil, fmt.Errorf("create certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse created certificate: %w", err)
	}
	return cert, nil
}

// randomSerial returns a positive random 128-bit serial number (RFC 5280
// section 4.1.2.2 allows up to 20 octets).
func randomSerial() (*big.Int, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("serial number: %w", err)
	}
	n := new(big.Int).SetBytes(b)
	if n.Sign() == 0 {
		n.SetInt64(1) // RFC 5280: the serial must be positive
	}
	return n, nil
}

// subjectKeyID is the SHA-1 of the subjectPublicKey bits, RFC 5280 section
// 4.2.1.2 method (1); Go only derives it itself for CA certificates.
func subjectKeyID(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("subject key id: %w", err)
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &spki); err != nil {
		return nil, fmt.Errorf("subject key id: %w", err)
	}
	sum := sha1.Sum(spki.PublicKey.Bytes)
	return sum[:], nil
}

// publicKeysEqual reports whether a and b are the same public key.
func publicKeysEqual(a, b crypto.PublicKey) bool {
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && b != nil && eq.Equal(b)
}
