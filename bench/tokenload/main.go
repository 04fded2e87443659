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
	"encoding/base64"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/portcullis/portcullis/bench/internal/loadgen"
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
	if _, err := loadgen.CheckLoopbackURL(target); err != nil {
		return fmt.Errorf("-url: %w", err)
	}
	opts := loadgen.Options{Workers: workers, Duration: duration, MaxRequests: maxReqs}
	if err := opts.Validate(); err != nil {
		return err
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

	hc, err := loadgen.NewHTTPClient(caFile, workers)
	if err != nil {
		return fmt.Errorf("-ca: %w", err)
	}
	res := loadgen.Run(context.Background(), opts, func(ctx context.Context, _ int) (int, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(body()))
		if err != nil {
			return 0, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return loadgen.Send(hc, req)
	})
	res.Report(os.Stdout, "tokens/s")
	if n := res.Failures(); n > 0 {
		return fmt.Errorf("%d requests failed", n)
	}
	return nil
}
