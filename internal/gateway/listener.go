package gateway

import "crypto/tls"

// ListenerTLS returns the TLS configuration of a gateway listener from
// base: while any served API accepts client certificates the handshake
// asks for one (tls.RequestClientCert: a connection without a certificate
// still reaches the APIs that need none, and each API verifies the
// certificate after routing); otherwise it asks for none. The choice is
// made per handshake, so an Apply takes effect on the next connection.
func (g *Gateway) ListenerTLS(base *tls.Config) *tls.Config {
	with, without := base.Clone(), base.Clone()
	with.ClientAuth, without.ClientAuth = tls.RequestClientCert, tls.NoClientCert
	with.GetConfigForClient, without.GetConfigForClient = nil, nil
	out := base.Clone()
	inner := base.GetConfigForClient
	out.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		if inner != nil {
			c, err := inner(hello)
			if err != nil || c != nil {
				if c != nil && g.NeedsClientCertificate() && c.ClientAuth == tls.NoClientCert {
					c = c.Clone()
					c.ClientAuth = tls.RequestClientCert
				}
				return c, err
			}
		}
		// Two fixed configurations, not a clone per handshake: each keeps
		// its session ticket keys, so resumption works.
		if g.NeedsClientCertificate() {
			return with, nil
		}
		return without, nil
	}
	return out
}
