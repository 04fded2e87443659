package guard

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func request(headers ...string) *http.Request {
	r, _ := http.NewRequest(http.MethodGet, "https://api.test/orders", nil)
	for i := 0; i < len(headers); i += 2 {
		r.Header.Add(headers[i], headers[i+1])
	}
	return r
}

func TestBearerToken_HeaderRules(t *testing.T) {
	tests := []struct {
		name    string
		headers []string
		token   string // accepted token
		status  int    // refusal status; 0 with token "" = ErrNoCredentials
	}{
		{"Bearer", []string{"Authorization", "Bearer abc.def.ghi"}, "abc.def.ghi", 0},
		{"lower-case bearer", []string{"Authorization", "bearer abc.def.ghi"}, "abc.def.ghi", 0},
		{"upper-case BEARER", []string{"Authorization", "BEARER abc"}, "abc", 0},
		{"two spaces", []string{"Authorization", "Bearer  abc"}, "abc", 0},
		{"no header", nil, "", 0},
		{"another scheme", []string{"Authorization", "Basic dTpw"}, "", 0},
		{"scheme prefix only", []string{"Authorization", "Bearerabc"}, "", 0},
		{"two Authorization headers", []string{"Authorization", "Bearer a", "Authorization", "Bearer b"}, "", 400},
		{"Bearer and Basic headers", []string{"Authorization", "Bearer a", "Authorization", "Basic dTpw"}, "", 400},
		{"scheme without token", []string{"Authorization", "Bearer"}, "", 400},
		{"scheme and spaces", []string{"Authorization", "Bearer   "}, "", 400},
		{"two tokens in one header", []string{"Authorization", "Bearer a, Bearer b"}, "", 400},
		{"space inside token", []string{"Authorization", "Bearer a b"}, "", 400},
		{"control character", []string{"Authorization", "Bearer a\tb"}, "", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := BearerToken(request(tt.headers...))
			switch {
			case tt.token != "":
				if err != nil || tok != tt.token {
					t.Errorf("got %q, %v; want %q", tok, err, tt.token)
				}
			case tt.status == 0:
				if !errors.Is(err, ErrNoCredentials) {
					t.Errorf("got %q, %v; want ErrNoCredentials", tok, err)
				}
			default:
				var e *Error
				if !errors.As(err, &e) || e.Status != tt.status || e.Code != CodeInvalidRequest {
					t.Errorf("got %q, %#v; want %d invalid_request", tok, err, tt.status)
				}
			}
		})
	}
}

type passwords map[string]string

func (p passwords) CheckPassword(_ context.Context, user, password string) (*Principal, error) {
	if want, ok := p[user]; ok && want == password {
		return &Principal{Method: MethodBasic, Subject: user, CredentialID: "pw-" + user}, nil
	}
	return nil, invalidToken("the user name or password is wrong")
}

type apiKeys map[string]string

func (k apiKeys) CheckAPIKey(_ context.Context, key string) (*Principal, error) {
	if id, ok := k[key]; ok {
		return &Principal{Method: MethodAPIKey, Subject: id, CredentialID: id}, nil
	}
	return nil, invalidToken("the API key is not known")
}

func basicHeader(user, pw string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw))
}

func TestChain_FirstAuthenticatorThatFindsItsCredentialWins(t *testing.T) {
	f := newVerifierFixture(t, nil)
	chain := Chain{Bearer(f.v), Basic(passwords{"ops": "s3cret"}), APIKey("x-api-key", apiKeys{"k-123": "key-1"})}
	tok := signJWT(t, rsaA, rs256("a"), validClaims())
	tests := []struct {
		name    string
		headers []string
		subject string
		status  int
		code    string
		scheme  string
		desc    string
	}{
		{"bearer", []string{"Authorization", "Bearer " + tok}, "9b1c-sub", 0, "", "", ""},
		{"basic", []string{"Authorization", basicHeader("ops", "s3cret")}, "ops", 0, "", "", ""},
		{"api key", []string{"X-Api-Key", "k-123"}, "key-1", 0, "", "", ""},
		{"nothing", nil, "", 401, "", "Bearer", "no credentials: send Authorization: Bearer <access token>, or Authorization: Basic <user:password>, or X-Api-Key: <API key>"},
		{"wrong password", []string{"Authorization", basicHeader("ops", "nope")}, "", 401, CodeInvalidToken, "Basic", "wrong"},
		{"basic not base64", []string{"Authorization", "Basic ***"}, "", 400, CodeInvalidRequest, "", "not allowed"},
		{"basic base64 without colon", []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("ops"))}, "", 400, CodeInvalidRequest, "Basic", "no ':'"},
		{"basic padding missing", []string{"Authorization", "Basic b3BzOnMzY3JldA"}, "", 400, CodeInvalidRequest, "Basic", "not base64"},
		{"unknown api key", []string{"X-Api-Key", "k-999"}, "", 401, CodeInvalidToken, "", "not known"},
		{"two api keys", []string{"X-Api-Key", "k-123", "X-Api-Key", "k-123"}, "", 400, CodeInvalidRequest, "", "2 X-Api-Key headers"},
		{"bad bearer stops the chain", []string{"Authorization", "Bearer x.y.z", "X-Api-Key", "k-123"}, "", 401, CodeInvalidToken, "", "not a well-formed JWS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := chain.Authenticate(request(tt.headers...))
			if tt.status == 0 {
				if err != nil || p.Subject != tt.subject {
					t.Fatalf("got %+v, %v; want subject %q", p, err, tt.subject)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Status != tt.status || e.Code != tt.code || !strings.Contains(e.Description, tt.desc) {
				t.Fatalf("got %#v; want %d %q containing %q", err, tt.status, tt.code, tt.desc)
			}
			if tt.scheme != "" && !strings.HasPrefix(e.Challenge("api"), tt.scheme+" ") {
				t.Errorf("challenge %q, want scheme %s", e.Challenge("api"), tt.scheme)
			}
		})
	}
}

// TestClientCertificate_PinnedCertificatesOverRealTLS runs a TLS listener
// that asks for any client certificate and accepts the pinned ones.
func TestClientCertificate_PinnedCertificatesOverRealTLS(t *testing.T) {
	now := time.Now()
	current, currentLeaf := selfSigned(t, "orders-client", now.Add(-time.Hour), now.Add(time.Hour))
	next, nextLeaf := selfSigned(t, "orders-client-next", now.Add(-time.Hour), now.Add(48*time.Hour))
	stranger, _ := selfSigned(t, "stranger", now.Add(-time.Hour), now.Add(time.Hour))
	expired, expiredLeaf := selfSigned(t, "expired", now.Add(-48*time.Hour), now.Add(-24*time.Hour))
	sum := func(der []byte) [32]byte { return sha256.Sum256(der) }
	cs, ns, es := sum(currentLeaf.Raw), sum(nextLeaf.Raw), sum(expiredLeaf.Raw)
	pins, err := NewPinnedCertificates(map[string]Principal{
		strings.ToUpper(hex.EncodeToString(cs[:])):  {Subject: "orders"}, // hex, upper case
		base64.RawURLEncoding.EncodeToString(ns[:]): {Subject: "orders"}, // base64url: the rollover pin
		hex.EncodeToString(es[:]):                   {Subject: "expired-client"},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := PrincipalFrom(r.Context())
		fmt.Fprintf(w, "%s %s %s", p.Method, p.Subject, p.CredentialID)
	}), Policy{Authenticators: []Authenticator{ClientCertificate(pins)}, Realm: "orders"})
	base, client := serveTLS(t, h, &tls.Config{ClientAuth: tls.RequireAnyClientCert})
	_ = base
	tests := []struct {
		name   string
		cert   *tls.Certificate
		status int
		body   string
	}{
		{"current pin", &current, 200, "clientCertificate orders " + hex.EncodeToString(cs[:])},
		{"next pin", &next, 200, "clientCertificate orders " + hex.EncodeToString(ns[:])},
		{"not pinned", &stranger, 401, "is not pinned for this API"},
		{"pinned but expired", &expired, 401, "not now"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := client.Transport.(*http.Transport).Clone()
			tr.TLSClientConfig.Certificates = []tls.Certificate{*tt.cert}
			c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			defer tr.CloseIdleConnections()
			resp, err := c.Get(base + "/orders")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status || !strings.Contains(string(body), tt.body) {
				t.Errorf("got %d %s; want %d containing %q", resp.StatusCode, body, tt.status, tt.body)
			}
		})
	}
}

func TestClientCertificate_NoTLSOrNoCertificateIsNotMine(t *testing.T) {
	pins, _ := NewPinnedCertificates(nil, nil)
	if _, err := ClientCertificate(pins).Authenticate(request()); !errors.Is(err, ErrNoCredentials) {
		t.Errorf("plain HTTP: %v", err)
	}
	r := request()
	r.TLS = &tls.ConnectionState{}
	if _, err := ClientCertificate(pins).Authenticate(r); !errors.Is(err, ErrNoCredentials) {
		t.Errorf("TLS without certificate: %v", err)
	}
}

func TestNewPinnedCertificates_RefusesWhatIsNotAThumbprint(t *testing.T) {
	for _, tp := range []string{"", "abc", strings.Repeat("a", 40), strings.Repeat("g", 64)} {
		if _, err := NewPinnedCertificates(map[string]Principal{tp: {}}, nil); err == nil {
			t.Errorf("%q accepted", tp)
		}
	}
	colons := strings.TrimSuffix(strings.Repeat("AB:", 32), ":")
	if _, err := NewPinnedCertificates(map[string]Principal{colons: {}}, nil); err != nil {
		t.Errorf("colon-separated hex: %v", err)
	}
}

// A credential with a character token68 cannot hold is refused with what
// to send instead, in the terms of its scheme (seen in the gateway guide:
// "send one Basic header with a single token" for bad base64).
func TestAuthorization_MalformedCredentialsSayWhatToSend(t *testing.T) {
	tests := []struct {
		name, scheme, header, want string
	}{
		{"Basic that is not base64", "Basic", "Basic !!!", "send Authorization: Basic followed by the base64 of user:password"},
		{"Basic user:password unencoded", "Basic", "Basic ops:s3cret pw", "at offset 3"},
		{"Bearer with a space", "Bearer", "Bearer a b", "send Authorization: Bearer followed by the access token, once"},
		{"two Bearer tokens in one header", "Bearer", "Bearer a, Bearer b", "at offset 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := authorization(request("Authorization", tt.header), tt.scheme)
			var e *Error
			if !errors.As(err, &e) || e.Status != 400 || e.Code != CodeInvalidRequest {
				t.Fatalf("got %#v; want 400 invalid_request", err)
			}
			if !strings.Contains(e.Description, tt.want) || strings.Contains(e.Description, "s3cret") {
				t.Errorf("description %q; want it to hold %q and no credential", e.Description, tt.want)
			}
		})
	}
}
