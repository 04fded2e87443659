// Command tokenload drives the token endpoint over HTTPS with a fixed number
// of concurrent keep-alive connections for a bounded time, and reports
// throughput and latency percentiles. It only targets loopback addresses.
//
//	go run ./bench/tokenload -url https://127.0.0.1:8443/TENANT/oauth2/v2.0/token \
//	  -ca portcullis-data/tls/ca.pem -client-id ID -secret S -scope api://x/.default
//
// With -cert FILE.pem instead of -secret, every request carries a freshly
// signed client assertion built by internal/oauthclient like MSAL Go's
// (PS256 for RSA keys, x5t#S256 header).
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/portcullis/portcullis/bench/internal/loadgen"
	"github.com/portcullis/portcullis/internal/oauthclient"
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
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "tokenload: unexpected argument %q (all options are flags; see -h)\n", flag.Arg(0))
		os.Exit(2)
	}
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
	var body func() (string, error)
	switch {
	case certFile != "":
		b, err := os.ReadFile(certFile)
		if err != nil {
			return err
		}
		leaf, _, key, err := pki.ParseCertificateAndKey(b, "")
		if err != nil {
			return fmt.Errorf("-cert %s: %w", certFile, err)
		}
		// The credential checks that the key belongs to the certificate and
		// picks the algorithm for the key (PS256 for RSA, ES256/384/512 by
		// curve), so that a bad -cert fails here instead of in every request.
		cred, err := oauthclient.CertificateCredential(leaf, key)
		if err != nil {
			return fmt.Errorf("-cert %s: %w", certFile, err)
		}
		body = func() (string, error) {
			a, err := cred.ClientAssertion(target, clientID, time.Now())
			if err != nil {
				return "", err
			}
			return url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "scope": {scope},
				"client_assertion_type": {oauthclient.ClientAssertionType}, "client_assertion": {a}}.Encode(), nil
		}
	case secret != "":
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {secret}, "scope": {scope}}.Encode()
		body = func() (string, error) { return form, nil }
	default:
		return fmt.Errorf("give -secret or -cert")
	}

	hc, err := loadgen.NewHTTPClient(caFile, workers)
	if err != nil {
		return fmt.Errorf("-ca: %w", err)
	}
	res := loadgen.Run(context.Background(), opts, func(ctx context.Context, _ int) (int, error) {
		form, err := body()
		if err != nil {
			return 0, err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(form))
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
