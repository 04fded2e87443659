package guard_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/portcullis/portcullis/guard"
)

// fixedSecret is a SecretRef that never rotates. A real one follows its
// vault: Current returns the version loaded last, with no I/O.
type fixedSecret struct{ v *guard.SecretValue }

func (f fixedSecret) Current() *guard.SecretValue { return f.v }

// mapResolver resolves "secret:NAME" from a map, trustedCAs given as PEM,
// and OIDC issuers by discovery.
type mapResolver map[string]string

func (m mapResolver) Secret(ref string) (guard.SecretRef, error) {
	v, ok := m[strings.TrimPrefix(ref, "secret:")]
	if !ok || !strings.HasPrefix(ref, "secret:") {
		return nil, fmt.Errorf("no secret %q", ref)
	}
	return fixedSecret{&guard.SecretValue{Value: []byte(v), Version: "1"}}, nil
}

func (mapResolver) Certificates(ref string) ([]*x509.Certificate, error) {
	b, _ := pem.Decode([]byte(ref))
	if b == nil {
		return nil, errors.New("not PEM")
	}
	c, err := x509.ParseCertificate(b.Bytes)
	return []*x509.Certificate{c}, err
}

func (mapResolver) Issuer(spec guard.IssuerSpec) (string, guard.KeySource, error) {
	if spec.Issuer == "" {
		return "", nil, errors.New("tenants are resolved only inside Portcullis; give the tenant's issuer URL")
	}
	keys, err := guard.NewOIDCKeySource(context.Background(), spec.Issuer, guard.OIDCOptions{})
	return spec.Issuer, keys, err
}

// ExampleCompilePolicy loads a policy in the format the gateway stores and
// enforces it in process: an API key in a header or the query (removed
// before the handler sees the request), or a Basic user.
func ExampleCompilePolicy() {
	const stored = `{
	  "realm": "orders",
	  "methods": [
	    {"type": "apiKey", "header": "x-functions-key", "query": "code",
	     "keys": [{"name": "billing-job", "secret": "secret:orders-key"}]},
	    {"type": "basic", "users": [{"name": "ops", "password": "secret:ops-password"}]}
	  ]
	}`
	var spec guard.PolicySpec
	if err := json.Unmarshal([]byte(stored), &spec); err != nil {
		log.Fatal(err)
	}
	res := mapResolver{"orders-key": "9f2c61d0a4", "ops-password": "correct horse"}
	policy, err := guard.CompilePolicy(spec, res, guard.CompileOptions{})
	if err != nil {
		log.Fatal(err)
	}
	api := guard.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		caller, _ := guard.PrincipalFrom(r.Context())
		fmt.Fprintf(w, "%s (%s) asked for ?%s", caller.Subject, caller.CredentialID, r.URL.RawQuery)
	}), policy)

	for _, target := range []string{"/orders?code=9f2c61d0a4&page=2", "/orders?code=guess"} {
		w := httptest.NewRecorder()
		api.ServeHTTP(w, httptest.NewRequest(http.MethodGet, target, nil))
		fmt.Println(w.Code, strings.TrimSpace(w.Body.String()))
	}
	// Output:
	// 200 billing-job (apiKey:billing-job@1) asked for ?page=2
	// 401 {"error":"invalid_token","error_description":"the API key in the query parameter code is not valid for this API; ask its operator for a key"}
}
