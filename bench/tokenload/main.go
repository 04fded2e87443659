// Command tokenload drives the token endpoint over HTTPS with a fixed number
// of concurrent keep-alive connections for a bounded time, and reports
// throughput and latency percentiles. It only targets loopback addresses.
//
//	go run ./bench/tokenload -url https://127.0.0.1:8443/TENANT/oauth2/v2.0/token \
//	  -ca portcullis-data/tls/ca.pem -client-id ID -secret S -scope api://x/.default
//
// With -cert FILE.pem instead of -secret, every request carries a freshly
// signed client assertion (PS256, x5t#S256), as MSAL sends it.
package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/portcullis/portcullis/internal/pki"
)

func main() {
	var (
		target   = flag.String("url", "", "token endpoint URL (loopback only)")
		caFile   = flag.String("ca", "", "PEM CA file to trust")
		clientID = flag.String("client-id", "", "client id")
		secret   = flag.String("secret", "", "client secret (or env TOKENLOAD_SECRET)")
		certFile = flag.String("cert", "", "PEM file with certificate and private key (certificate assertion mode)")
		scope    = flag.String("scope", "", "scope, e.g. api://resource/.default")
		workers  = flag.Int("c", 16, "concurrent connections")
		duration = flag.Duration("d", 10*time.Second, "test duration")
		maxReqs  = flag.Int64("n", 1_000_000, "stop after this many requests")
	)
	flag.Parse()
	if *secret == "" {
		*secret = os.Getenv("TOKENLOAD_SECRET")
	}
	if err := run(*target, *caFile, *clientID, *secret, *certFile, *scope, *workers, *duration, *maxReqs); err != nil {
		fmt.Fprintln(os.Stderr, "tokenload:", err)
		os.Exit(1)
	}
}

func run(target, caFile, clientID, secret, certFile, scope string, workers int, duration time.Duration, maxReqs int64) error {
	u, err := url.Parse(target)
	if err != nil || u.Scheme != "https" {
		return fmt.Errorf("-url must be an https URL")
	}
	if ip := net.ParseIP(u.Hostname()); !(u.Hostname() == "localhost" || (ip != nil && ip.IsLoopback())) {
		return fmt.Errorf("-url must point at a loopback address, not %q", u.Hostname())
	}
	pool := x509.NewCertPool()
	if caFile != "" {
		b, err := os.ReadFile(caFile)
		if err != nil {
			return err
		}
		pool.AppendCertsFromPEM(b)
	}
	var body func() string
	switch {
	case certFile != "":
		b, err := os.ReadFile(certFile)
		if err != nil {
			return err
		}
		leaf, _, key, err := pki.ParseCertificateAndKey(b, "")
		if err != nil {
			return err
		}
		sum := sha256.Sum256(leaf.Raw)
		x5t := base64.StdEncoding.EncodeToString(sum[:]) // as MSAL Go sends it
		method := jwt.SigningMethod(jwt.SigningMethodPS256)
		if _, ok := key.(*ecdsa.PrivateKey); ok {
			method = jwt.SigningMethodES256
		}
		var signer crypto.Signer = key
		if rk, ok := key.(*rsa.PrivateKey); ok {
			signer = rk
		}
		body = func() string {
			now := time.Now()
			t := jwt.NewWithClaims(method, jwt.MapClaims{
				"aud": target, "iss": clientID, "sub": clientID, "jti": uuid.NewString(),
				"nbf": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(),
			})
			t.Header["x5t#S256"] = x5t
			a, err := t.SignedString(signer)
			if err != nil {
				panic(err) // the key was parsed above; signing cannot fail here
			}
			return url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "scope": {scope},
				"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {a}}.Encode()
		}
	case secret != "":
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {secret}, "scope": {scope}}.Encode()
		body = func() string { return form }
	default:
		return fmt.Errorf("give -secret or -cert")
	}

	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, MaxIdleConnsPerHost: workers, ForceAttemptHTTP2: false}
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()

	var sent, failed atomic.Int64
	lat := make([][]time.Duration, workers)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for ctx.Err() == nil && sent.Add(1) <= maxReqs {
				t0 := time.Now()
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(body()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				resp, err := hc.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						failed.Add(1)
					}
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failed.Add(1)
					continue
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	pct := func(p float64) time.Duration {
		if len(all) == 0 {
			return 0
		}
		return all[min(len(all)-1, int(float64(len(all))*p))]
	}
	fmt.Printf("requests ok: %d  failed: %d  duration: %s  concurrency: %d\n", len(all), failed.Load(), elapsed.Round(time.Millisecond), workers)
	fmt.Printf("throughput: %.0f tokens/s\n", float64(len(all))/elapsed.Seconds())
	fmt.Printf("latency p50: %s  p90: %s  p99: %s  max: %s\n", pct(0.50), pct(0.90), pct(0.99), pct(1))
	if failed.Load() > 0 {
		return fmt.Errorf("%d requests failed", failed.Load())
	}
	return nil
}
