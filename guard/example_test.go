package guard_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/portcullis/portcullis/guard"
)

// Example protects an "orders" API with tokens from an OIDC issuer: a
// stand-in for a Portcullis tenant (https://localhost:8443/{tenant}/v2.0)
// or Entra ID runs on loopback TLS.
func Example() {
	idp := startIssuer()
	defer idp.Close()
	ctx := context.Background()

	// Where the signing keys come from: the issuer's discovery document
	// and JWKS. (With a real issuer, leave HTTPClient nil.)
	keys, err := guard.NewOIDCKeySource(ctx, idp.Issuer, guard.OIDCOptions{HTTPClient: idp.Client()})
	if err != nil {
		log.Fatal(err)
	}
	// Which tokens are for this API: the audience its tokens carry.
	verifier, err := guard.NewVerifier(guard.VerifierConfig{Keys: keys, Audiences: []string{"api://orders"}})
	if err != nil {
		log.Fatal(err)
	}
	// Who may call it: applications granted the Orders.Read role.
	orders := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		caller, _ := guard.PrincipalFrom(r.Context())
		fmt.Fprintf(w, "orders for %s", caller.AppID)
	})
	api := guard.Middleware(orders, guard.Policy{
		Authenticators: []guard.Authenticator{guard.Bearer(verifier)},
		Rules:          guard.Rules{Roles: []string{"Orders.Read"}},
		Realm:          "orders",
	})

	call := func(token string) {
		req := httptest.NewRequest(http.MethodGet, "/orders", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		w := httptest.NewRecorder()
		api.ServeHTTP(w, req)
		if w.Code == http.StatusOK {
			fmt.Println(w.Code, w.Body.String())
			return
		}
		fmt.Println(w.Code, w.Header().Get("WWW-Authenticate"))
	}
	call("")
	call(idp.Token("reporting-app", "Orders.Read"))
	call(idp.Token("billing-app", "Orders.Write"))
	// Output:
	// 401 Bearer realm="orders"
	// 200 orders for reporting-app
	// 403 Bearer realm="orders", error="insufficient_scope", error_description="the caller carries roles [Orders.Write] and scopes [], but this API requires one of the roles [Orders.Read]; an administrator must grant it"
}

// issuer is a minimal OpenID Connect issuer: discovery, JWKS, and tokens
// signed with one RSA key.
type issuer struct {
	*httptest.Server
	Issuer string
	key    *rsa.PrivateKey
}

func startIssuer() *issuer {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		log.Fatal(err)
	}
	idp := &issuer{key: key}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /contoso/v2.0/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"issuer": idp.Issuer, "jwks_uri": idp.URL + "/contoso/discovery/v2.0/keys"})
	})
	mux.HandleFunc("GET /contoso/discovery/v2.0/keys", func(w http.ResponseWriter, r *http.Request) {
		enc := base64.RawURLEncoding.EncodeToString
		json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{
			"kty": "RSA", "use": "sig", "kid": "key-1",
			"n": enc(key.N.Bytes()), "e": enc(big.NewInt(int64(key.E)).Bytes()),
		}}})
	})
	idp.Server = httptest.NewTLSServer(mux)
	idp.Issuer = idp.URL + "/contoso/v2.0"
	return idp
}

// Token issues an access token for api://orders to app with one role.
func (idp *issuer) Token(app, role string) string {
	now := time.Now()
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"iss": idp.Issuer, "aud": "api://orders", "azp": app, "sub": app, "roles": []string{role},
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	})
	t.Header["kid"] = "key-1"
	s, err := t.SignedString(idp.key)
	if err != nil {
		log.Fatal(err)
	}
	return s
}
