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

	for _, tc := range []struct{ name, base, want string }{
		{"nothing listens", closed, "nothing answers at " + closed + " (connection refused)"},
		{"http to the HTTPS port", "http://" + tlsHost, "http://" + tlsHost + " speaks HTTPS, not plain HTTP: use https://" + tlsHost},
		{"https to a plain HTTP port", "https://" + plainHost, "https://" + plainHost + " answers plain HTTP, not HTTPS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := RequestToken(context.Background(), hc, tc.base+"/default/oauth2/v2.0/token", "client", SecretCredential(NewSecret("s3cret-value")), "api://x/.default")
			var ce *ConnectionError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v (%T), want a ConnectionError", err, err)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("err = %q, want it to start with %q", err, tc.want)
			}
			if n := strings.Count(err.Error(), strings.SplitN(tc.base, "://", 2)[1]); n != 1 && tc.name != "http to the HTTPS port" {
				t.Errorf("the address appears %d times in %q", n, err)
			}
			if strings.Contains(err.Error(), "s3cret-value") {
				t.Errorf("the error shows the secret: %q", err)
			}
		})
	}
}
