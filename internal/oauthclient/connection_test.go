package oauthclient

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestRequestToken_ConnectionFailuresNameTheAddressOnce talks to real
// listeners on loopback: a closed port, an HTTPS port spoken to in plain
// HTTP, and a plain-HTTP port spoken to in HTTPS.
func TestRequestToken_ConnectionFailuresNameTheAddressOnce(t *testing.T) {
	tlsSrv := httptest.NewTLSServer(http.NotFoundHandler())
	defer tlsSrv.Close()
	tlsSrv.Config.ErrorLog = nil
	plain := httptest.NewServer(http.NotFoundHandler())
	defer plain.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "https://" + l.Addr().String()
	l.Close()
	tlsHost := strings.TrimPrefix(tlsSrv.URL, "https://")
	plainHost := strings.TrimPrefix(plain.URL, "http://")
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}

	// A request body the HTTPS server does not read (a large client
	// assertion) makes its close reset the connection, before or after the
	// client reads the 400: either way the error says to use https.
	large := "s3cret-value" + strings.Repeat("x", 256<<10)
	for _, tc := range []struct{ name, base, secret, want string }{
		{"nothing listens", closed, "s3cret-value", "nothing answers at " + closed + " (connection refused)"},
		{"http to the HTTPS port", "http://" + tlsHost, "s3cret-value", "http://" + tlsHost + " speaks HTTPS, not plain HTTP: use https://" + tlsHost},
		{"http to the HTTPS port, large request", "http://" + tlsHost, large, "http://" + tlsHost},
		{"https to a plain HTTP port", "https://" + plainHost, "s3cret-value", "https://" + plainHost + " answers plain HTTP, not HTTPS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := RequestToken(context.Background(), hc, tc.base+"/default/oauth2/v2.0/token", "client", SecretCredential(NewSecret(tc.secret)), "api://x/.default")
			var ce *ConnectionError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v (%T), want a ConnectionError", err, err)
			}
			if strings.HasPrefix(tc.base, "http://") && !strings.Contains(err.Error(), "use https://"+tlsHost) {
				t.Errorf("err = %q, want it to say: use https://%s", err, tlsHost)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("err = %q, want it to start with %q", err, tc.want)
			}
			if n := strings.Count(err.Error(), strings.SplitN(tc.base, "://", 2)[1]); n != 1 && !strings.HasPrefix(tc.base, "http://") {
				t.Errorf("the address appears %d times in %q", n, err)
			}
			if strings.Contains(err.Error(), "s3cret-value") {
				t.Errorf("the error shows the secret: %q", err)
			}
		})
	}
}
