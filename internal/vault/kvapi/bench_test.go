package kvapi_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/guard"
	"github.com/portcullis/portcullis/internal/seal"
	"github.com/portcullis/portcullis/internal/store/sqlite/sqlitetest"
	"github.com/portcullis/portcullis/internal/vault"
	"github.com/portcullis/portcullis/internal/vault/kvapi"
)

// The benchmarks below drive the Key Vault handler in process, over a real
// SQLite store (synchronous=FULL, as in production) and a token verifier
// that does the same work as the token service's (split, base64url,
// JSON header and claims, RS256 signature with a 2048-bit key, time
// checks), so that a CPU profile shows where a request's time goes:
//
//	go test -run XXX -bench . -benchtime 5s -cpuprofile /tmp/kv.cpu ./internal/vault/kvapi
//	go tool pprof -top /tmp/kv.cpu

// benchKeys is the key source of the benchmark's guard.Verifier: one
// RS256 key, kid "bench", for any issuer (the token service's Key does a
// map lookup too); it counts the lookups.
type benchKeys struct {
	pub   *rsa.PublicKey
	calls atomic.Int64
}

func (k *benchKeys) Key(_ context.Context, _, kid string) (crypto.PublicKey, error) {
	k.calls.Add(1)
	if kid != "bench" {
		return nil, errors.New("unknown kid")
	}
	return k.pub, nil
}

type benchClaims struct {
	Aud   string   `json:"aud"`
	Iss   string   `json:"iss"`
	Iat   int64    `json:"iat"`
	Nbf   int64    `json:"nbf"`
	Exp   int64    `json:"exp"`
	Azp   string   `json:"azp"`
	Oid   string   `json:"oid"`
	Tid   string   `json:"tid"`
	Roles []string `json:"roles,omitempty"`
	Uti   string   `json:"uti"`
	Ver   string   `json:"ver"`
}

func signRS256(tb testing.TB, key *rsa.PrivateKey, c benchClaims) string {
	tb.Helper()
	hb, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": "bench"})
	pb, _ := json.Marshal(c)
	input := base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString(pb)
	d := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, d[:])
	if err != nil {
		tb.Fatal(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// benchEnv is a Key Vault handler over SQLite with one caller holding
// Secrets Officer on the default vault by role assignment.
type benchEnv struct {
	h    *kvapi.Handler
	svc  *vault.Service
	keys *benchKeys
	auth string // "Bearer …"
}

const (
	benchTenant   = "11111111-1111-1111-1111-111111111111"
	benchResource = "22222222-2222-2222-2222-222222222222"
	benchClient   = "33333333-3333-3333-3333-333333333333"
	benchHost     = "localhost:8443"
)

func newBenchEnv(tb testing.TB) *benchEnv {
	tb.Helper()
	ctx := context.Background()
	st := sqlitetest.Open(tb)
	kb := make([]byte, seal.RootKeySize)
	if _, err := rand.Read(kb); err != nil {
		tb.Fatal(err)
	}
	rk, err := seal.ParseRootKey(hex.EncodeToString(kb))
	if err != nil {
		tb.Fatal(err)
	}
	sealer := seal.NewSealer(rk)
	log := slog.New(slog.DiscardHandler)
	svc, err := vault.New(vault.Config{Store: st, Sealer: sealer, Logger: log})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = svc.Close(context.Background()) })
	if _, err := svc.EnsureDefault(ctx); err != nil {
		tb.Fatal(err)
	}
	if _, err := svc.AssignRole(ctx, vault.Caller{Admin: true}, vault.RoleAssignment{Vault: vault.DefaultVault, PrincipalID: benchClient, Role: vault.RoleSecretsOfficer}); err != nil {
		tb.Fatal(err)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatal(err)
	}
	keys := &benchKeys{pub: &key.PublicKey}
	ver, err := guard.NewVerifier(guard.VerifierConfig{Keys: keys, Audiences: []string{benchResource}, Algorithms: []string{"RS256"}})
	if err != nil {
		tb.Fatal(err)
	}
	h, err := kvapi.New(kvapi.Config{Vault: svc, Authenticator: guard.Bearer(ver), Sealer: sealer, TenantID: benchTenant, ResourceAppID: benchResource,
		BaseHosts: []string{benchHost}, Logger: log})
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now()
	tok := signRS256(tb, key, benchClaims{Aud: benchResource, Iss: "https://" + benchHost + "/" + benchTenant + "/v2.0",
		Iat: now.Unix(), Nbf: now.Unix(), Exp: now.Add(time.Hour).Unix(), Azp: benchClient, Oid: benchClient, Tid: benchTenant, Uti: "u", Ver: "2.0"})
	return &benchEnv{h: h, svc: svc, keys: keys, auth: "Bearer " + tok}
}

// discardWriter is a minimal http.ResponseWriter that keeps the status.
type discardWriter struct {
	hdr    http.Header
	status int
	n      int
}

func (w *discardWriter) Header() http.Header { return w.hdr }
func (w *discardWriter) WriteHeader(s int) {
	if w.status == 0 {
		w.status = s
	}
}
func (w *discardWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.n += len(b)
	return len(b), nil
}

func (e *benchEnv) do(method, path string, body []byte) (int, error) {
	req, err := http.NewRequest(method, "https://"+benchHost+"/vaults/default"+path, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Host = benchHost
	req.Header.Set("Authorization", e.auth)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	w := &discardWriter{hdr: http.Header{}}
	e.h.ServeHTTP(w, req)
	return w.status, nil
}

func setBody(size int) []byte {
	b, _ := json.Marshal(map[string]string{"value": strings.Repeat("v", size)})
	return b
}

func BenchmarkGetSecret(b *testing.B) {
	e := newBenchEnv(b)
	if st, err := e.do(http.MethodPut, "/secrets/bench?api-version=7.5", setBody(64)); err != nil || st != http.StatusOK {
		b.Fatalf("set: %d %v", st, err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if st, err := e.do(http.MethodGet, "/secrets/bench?api-version=7.5", nil); err != nil || st != http.StatusOK {
				b.Errorf("get: %d %v", st, err)
				return
			}
		}
	})
	b.StopTimer()
	if err := e.svc.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkSetSecret(b *testing.B) {
	e := newBenchEnv(b)
	body := setBody(64)
	var n atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			name := fmt.Sprintf("/secrets/bench%d?api-version=7.5", n.Add(1)%8)
			if st, err := e.do(http.MethodPut, name, body); err != nil || st != http.StatusOK {
				b.Errorf("set: %d %v", st, err)
				return
			}
		}
	})
}
