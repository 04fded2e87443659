package gateway

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/guard"
	"github.com/portcullis/portcullis/internal/gateway/proxy"
)

// TestServe_ARotatedKeyIsFetchedWithoutHoldingUpTheLoops serves an API
// that trusts an OIDC issuer through the real HTTP engine (event loops on
// Linux) and rotates the issuer's key: while the gateway fetches the new
// key set, which the issuer holds back, the caller with the new key waits
// and every caller with the loaded key is answered, on every loop; once the
// set arrives, the waiting caller is admitted.
func TestServe_ARotatedKeyIsFetchedWithoutHoldingUpTheLoops(t *testing.T) {
	var ahead atomic.Int64 // the gateway's clock runs ahead of the real one by this much
	h := newHarness(t, func(c *Config) {
		c.Now = func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }
		c.NewBackend = NewProxyBackend
	})
	iss := newRotatingIssuer(t)
	backend := startBackend(t)
	api := apiKeyAPI("t1", "orders", "/orders", "unused")
	api.Backend.URLs = []string{backend}
	api.Policy = guard.PolicySpec{Methods: []guard.MethodSpec{{Type: guard.SpecBearer, Issuers: []guard.IssuerSpec{{Issuer: iss.url}}, Audiences: []string{"api://orders"}}}}
	h.apply(t, api)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &proxy.Server{Decider: h.g.Decider(true)}
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	// get sends one request on a connection of its own; within is a
	// liveness bound, not a speed figure.
	get := func(tok string, within time.Duration) (int, error) {
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: within}
		req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/orders/x", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := c.Do(req)
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	claims := map[string]any{"iss": iss.url, "aud": "api://orders", "exp": time.Now().Add(time.Hour).Unix(), "sub": "s"}
	loaded, rotated := token(t, claims), tokenWithKid(t, "k2", claims)
	waitFor(t, "the issuer's keys loaded", func() bool { code, _ := get(loaded, 5*time.Second); return code == http.StatusOK })

	// The issuer rotates, and holds back its key set until released.
	ahead.Store(int64(guard.DefaultMinRefetchInterval + time.Second))
	release := iss.rotate("k2")
	waited := make(chan string, 1)
	go func() {
		code, err := get(rotated, 20*time.Second)
		waited <- fmt.Sprint(code, err)
	}()
	iss.waitFetching(t)
	// Many connections, so that every loop serves some, each with the loaded
	// key; a loop held up by the fetch would not answer within 5 s.
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			if code, err := get(loaded, 5*time.Second); code != http.StatusOK {
				t.Errorf("caller %d with the loaded key, during the fetch: %d %v", i, code, err)
			}
		})
	}
	wg.Wait()
	select {
	case got := <-waited:
		t.Fatalf("the caller with the new key was answered before its key set arrived: %s", got)
	default:
	}
	release()
	if got := <-waited; got != "200 <nil>" {
		t.Errorf("the caller with the new key, once the set arrived: %s", got)
	}
}

// rotatingIssuer serves OIDC discovery and a JWKS of testRSA's public key
// under kid k1; rotate adds a kid and holds the next JWKS answers back
// until released.
type rotatingIssuer struct {
	url      string
	mu       sync.Mutex
	kids     []string
	hold     chan struct{}
	fetching chan struct{}
}

func newRotatingIssuer(t *testing.T) *rotatingIssuer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ri := &rotatingIssuer{url: "http://" + ln.Addr().String() + "/tenant-r/v2.0", kids: []string{"k1"}, fetching: make(chan struct{}, 1)}
	mux := http.NewServeMux()
	mux.HandleFunc("/tenant-r/v2.0/.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"issuer": ri.url, "jwks_uri": "http://" + ln.Addr().String() + "/keys"})
	})
	mux.HandleFunc("/keys", func(w http.ResponseWriter, _ *http.Request) {
		ri.mu.Lock()
		hold, kids := ri.hold, append([]string(nil), ri.kids...)
		ri.mu.Unlock()
		if hold != nil {
			select {
			case ri.fetching <- struct{}{}:
			default:
			}
			<-hold
		}
		pub := testRSA.PublicKey
		var keys []map[string]string
		for _, kid := range kids {
			keys = append(keys, map[string]string{"kty": "RSA", "use": "sig", "kid": kid, "alg": "RS256",
				"n": base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
				"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes())})
		}
		json.NewEncoder(w).Encode(map[string]any{"keys": keys})
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ri.mu.Lock()
		if ri.hold != nil {
			close(ri.hold)
			ri.hold = nil
		}
		ri.mu.Unlock()
		srv.Close()
	})
	return ri
}

// rotate publishes kid and holds the key set back until release is called.
func (ri *rotatingIssuer) rotate(kid string) (release func()) {
	hold := make(chan struct{})
	ri.mu.Lock()
	ri.kids = append(ri.kids, kid)
	ri.hold = hold
	ri.mu.Unlock()
	return func() {
		ri.mu.Lock()
		if ri.hold == hold {
			close(hold)
			ri.hold = nil
		}
		ri.mu.Unlock()
	}
}

func (ri *rotatingIssuer) waitFetching(t *testing.T) {
	t.Helper()
	select {
	case <-ri.fetching:
	case <-time.After(10 * time.Second):
		t.Fatal("the gateway did not fetch the rotated key set")
	}
}

// startBackend serves 200 "ok" on loopback and returns its URL.
func startBackend(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}
