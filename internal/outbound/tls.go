package outbound

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/portcullis/portcullis/internal/vault"
	"github.com/portcullis/portcullis/internal/vaultwatch"
)

func (t *TLSSpec) empty() bool {
	return len(t.CACertificates) == 0 && t.ServerName == "" && len(t.PinnedThumbprints) == 0 && !t.SkipChainValidation
}

// tlsConfig builds the configuration toward an https target. The
// server's certificate is verified in VerifyConnection against the roots
// of the moment (vault CA certificates are read at each handshake, so a
// renewed CA needs no recompilation), then checked against the pins; the
// client certificate is the current version, picked at each handshake.
func (c *Credential) tlsConfig(u *url.URL, spec *TLSSpec, refs *refResolver, opts Options) (*tls.Config, error) {
	if spec == nil {
		spec = &TLSSpec{}
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: spec.ServerName}
	name := spec.ServerName
	if name == "" {
		name = u.Hostname()
	}
	var static *x509.CertPool
	var dynamic []*vaultwatch.Handle
	for i, s := range spec.CACertificates {
		field := fmt.Sprintf("tls.caCertificates[%d]", i)
		if strings.HasPrefix(s, vault.RefScheme) {
			h, err := refs.acquire(field, s, vault.Certificates, opts.ClientCertificateRotated)
			if err != nil {
				return nil, err
			}
			dynamic = append(dynamic, h)
			continue
		}
		certs, err := parsePEMCertificates(s)
		if err != nil {
			return nil, c.errorf("%s: %v", field, err)
		}
		if static == nil {
			static = x509.NewCertPool()
		}
		for _, x := range certs {
			static.AddCert(x)
		}
	}
	pins := make([][]byte, 0, len(spec.PinnedThumbprints))
	for i, p := range spec.PinnedThumbprints {
		b, err := hex.DecodeString(strings.ReplaceAll(p, ":", ""))
		if err != nil || len(b) != sha256.Size {
			return nil, c.errorf("tls.pinnedThumbprints[%d]: want the SHA-256 of the server certificate as 64 hex digits", i)
		}
		pins = append(pins, b)
	}
	if spec.SkipChainValidation {
		c.log.Warn("outbound: server certificate chain validation is OFF (skipChainValidation)",
			"owner", c.name, "target", clip(u.Redacted(), 200), "pinned", len(pins) > 0)
	}
	custom := len(dynamic) > 0 || static != nil || len(pins) > 0 || spec.SkipChainValidation
	if custom {
		// The built-in check is replaced by VerifyConnection, which always
		// runs; InsecureSkipVerify only turns the built-in one off.
		cfg.InsecureSkipVerify = true
		skip, now := spec.SkipChainValidation, c.now
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("the server presented no certificate")
			}
			leaf := cs.PeerCertificates[0]
			if !skip {
				var roots *x509.CertPool // nil: the system roots
				if static != nil || len(dynamic) > 0 {
					roots = x509.NewCertPool()
					if static != nil {
						roots = static.Clone()
					}
					for _, h := range dynamic {
						v := h.Load()
						if v == nil || v.Certificate == nil {
							return fmt.Errorf("trusted CA %s", h.Problem())
						}
						roots.AddCert(v.Certificate.Leaf)
					}
				}
				inter := x509.NewCertPool()
				for _, x := range cs.PeerCertificates[1:] {
					inter.AddCert(x)
				}
				dns := name
				if spec.ServerName == "" && cs.ServerName != "" {
					// The SNI the connection sent: a backend with several
					// URLs verifies each against its own host.
					dns = cs.ServerName
				}
				if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: dns, CurrentTime: now()}); err != nil {
					return err
				}
			}
			if len(pins) > 0 {
				sum := sha256.Sum256(leaf.Raw)
				for _, p := range pins {
					if subtle.ConstantTimeCompare(p, sum[:]) == 1 {
						return nil
					}
				}
				return fmt.Errorf("the server certificate (SHA-256 %s, subject %s) is not one of the pinned thumbprints", hex.EncodeToString(sum[:]), clip(leaf.Subject.String(), 200))
			}
			return nil
		}
	}
	if c.clientCert != nil {
		h := c.clientCert
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			v := h.Load()
			if v == nil || v.Certificate == nil {
				return nil, fmt.Errorf("client certificate %s", h.Problem())
			}
			if v.Certificate.TLS == nil {
				return nil, fmt.Errorf("client certificate %s version %s has no private key in the vault", h.Ref(), v.Version)
			}
			return v.Certificate.TLS, nil
		}
	}
	return cfg, nil
}

// parsePEMCertificates reads every CERTIFICATE block of s.
func parsePEMCertificates(s string) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	rest := []byte(s)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		x, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("a PEM certificate does not parse: %v", err)
		}
		out = append(out, x)
	}
	if len(out) == 0 {
		return nil, errors.New("neither PEM certificates nor a vault://VAULT/certificates/NAME reference")
	}
	return out, nil
}

// ClientCertificate returns the client certificate the next handshake will
// present, or nil (no client certificate, or not resolved yet).
func (c *Credential) ClientCertificate() *x509.Certificate {
	if c.clientCert == nil {
		return nil
	}
	if v := c.clientCert.Load(); v != nil && v.Certificate != nil {
		return v.Certificate.Leaf
	}
	return nil
}
