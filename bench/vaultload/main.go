// Command vaultload drives the Key Vault-compatible secret API over HTTPS
// with bearer authentication, from a fixed number of concurrent keep-alive
// connections for a bounded time and count, and reports throughput, failures
// by HTTP status and latency percentiles. It only targets loopback addresses.
//
// With the admin credential that `portcullis serve --dev` writes:
//
//	go run ./bench/vaultload -data portcullis-data -op get -c 16 -d 10s
//	go run ./bench/vaultload -data portcullis-data -op set -size 1024
//
// or with any client that holds a vault role:
//
//	VAULTLOAD_SECRET=S go run ./bench/vaultload -vault-url https://127.0.0.1:8443/vaults/default \
//	  -ca portcullis-data/tls/ca.pem -client-id ID -tenant TENANT -op get
//
// Like the Key Vault SDKs, it first sends a request without a token and
// reads the 401 challenge (WWW-Authenticate: Bearer authorization=…,
// resource=… or scope=…), then gets ONE token for that scope by client
// credentials, used for the whole run. With -op get it sets the secret once
// and then reads it; with -op set every request PUTs a new value (a new
// version of the secret).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/portcullis/portcullis/bench/internal/loadgen"
	"github.com/portcullis/portcullis/internal/adminclient"
	"github.com/portcullis/portcullis/internal/oauthclient"
	"github.com/portcullis/portcullis/internal/vault"
	"github.com/portcullis/portcullis/internal/vaultclient"
)

// apiVersion is the Key Vault REST API version sent with every request.
const apiVersion = "7.5"

// config is everything a run needs, resolved from flags, environment and
// admin.json.
type config struct {
	vaultURL   string // https://HOST:PORT/vaults/{vault}, no trailing slash
	caFile     string
	clientID   string
	secret     oauthclient.Secret
	tenant     string // "" = the tenant of the challenge's authority
	tokenURL   string // "" = from the challenge
	op         string
	secretName string
	valueSize  int
	opts       loadgen.Options
}

func main() {
	var (
		vaultURL   = flag.String("vault-url", "", "vault URL, https://HOST:PORT/vaults/{vault} (loopback only; default: the addr in DATA/admin.json + /vaults/default, else https://127.0.0.1:8443/vaults/default)")
		caFile     = flag.String("ca", "", "PEM CA file to trust (default: the ca in DATA/admin.json, else the system roots)")
		dataDir    = flag.String("data", "", "data directory of 'portcullis serve --dev' holding admin.json with the client id, secret and tenant (default ./"+adminclient.DefaultDataDir+" when -client-id is not given)")
		clientID   = flag.String("client-id", "", "client id of an application with a vault role (instead of admin.json)")
		secret     = flag.String("secret", "", "client secret (or env VAULTLOAD_SECRET)")
		tenant     = flag.String("tenant", "", "tenant id or name for the token endpoint (default: the tenant named by the vault's challenge)")
		tokenURL   = flag.String("token-url", "", "token endpoint URL (default: {authorization from the vault's challenge}/oauth2/v2.0/token)")
		op         = flag.String("op", "get", "operation: get (read one secret) or set (write a new version each request)")
		workers    = flag.Int("c", 16, "concurrent connections")
		duration   = flag.Duration("d", 10*time.Second, "test duration")
		maxReqs    = flag.Int64("n", 1_000_000, "stop after this many requests")
		size       = flag.Int("size", 64, "secret value size in bytes")
		secretName = flag.String("secret-name", "vaultload", "name of the secret to read or write")
	)
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "vaultload: unexpected argument %q (all options are flags; see -h)\n", flag.Arg(0))
		os.Exit(2)
	}
	if *secret == "" {
		*secret = os.Getenv("VAULTLOAD_SECRET")
	}
	cfg, err := resolve(*vaultURL, *caFile, *dataDir, *clientID, *secret, *tenant, *tokenURL, *op, *secretName, *size,
		loadgen.Options{Workers: *workers, Duration: *duration, MaxRequests: *maxReqs})
	if err == nil {
		err = run(cfg)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "vaultload:", err)
		os.Exit(1)
	}
}

// resolve validates the flags and fills in what admin.json provides.
func resolve(vaultURL, caFile, dataDir, clientID, secret, tenant, tokenURL, op, secretName string, size int, opts loadgen.Options) (config, error) {
	cfg := config{caFile: caFile, clientID: clientID, secret: oauthclient.NewSecret(secret), tenant: tenant,
		tokenURL: tokenURL, op: op, secretName: secretName, valueSize: size, opts: opts}
	if err := opts.Validate(); err != nil {
		return cfg, err
	}
	if op != "get" && op != "set" {
		return cfg, fmt.Errorf("-op %q: want get or set", op)
	}
	if err := vault.ValidateName(secretName); err != nil {
		return cfg, fmt.Errorf("-secret-name %q: want 1 to 127 letters, digits or dashes", secretName)
	}
	if size < 1 || size > vault.MaxSecretValueBytes {
		return cfg, fmt.Errorf("-size %d: want 1 to %d bytes (the vault's limit)", size, vault.MaxSecretValueBytes)
	}

	addr := "https://127.0.0.1:8443"
	if clientID == "" || dataDir != "" {
		if dataDir == "" {
			dataDir = adminclient.DefaultDataDir
		}
		file, err := readCredentialFile(filepath.Join(dataDir, adminclient.CredentialFileName))
		if err != nil {
			return cfg, err
		}
		if cfg.clientID == "" {
			cfg.clientID = file.ClientID
			cfg.secret = file.ClientSecret
		}
		if cfg.caFile == "" {
			cfg.caFile = file.CA
		}
		if file.Addr != "" {
			addr = strings.TrimRight(file.Addr, "/")
		}
	}
	if cfg.clientID == "" {
		return cfg, errors.New("no client id: give -data DIR (holding admin.json of 'portcullis serve --dev') or -client-id")
	}
	if cfg.secret.IsZero() {
		return cfg, errors.New("no client secret: give -secret or set VAULTLOAD_SECRET (or use -data DIR)")
	}

	if vaultURL == "" {
		vaultURL = addr + "/vaults/" + vault.DefaultVault
	}
	cfg.vaultURL = strings.TrimRight(vaultURL, "/")
	u, err := loadgen.CheckLoopbackURL(cfg.vaultURL)
	if err != nil {
		return cfg, fmt.Errorf("-vault-url: %w", err)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return cfg, fmt.Errorf("-vault-url %q: give the vault URL without a query, e.g. https://127.0.0.1:8443/vaults/default", cfg.vaultURL)
	}
	if tokenURL != "" {
		if _, err := loadgen.CheckLoopbackURL(tokenURL); err != nil {
			return cfg, fmt.Errorf("-token-url: %w", err)
		}
	}
	return cfg, nil
}

// readCredentialFile reads DATA/admin.json.
func readCredentialFile(path string) (adminclient.CredentialFile, error) {
	var f adminclient.CredentialFile
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return f, fmt.Errorf("no credential: %s does not exist; give -data DIR of a 'portcullis serve --dev' server, or -client-id with -secret/VAULTLOAD_SECRET", path)
	}
	if err != nil {
		return f, fmt.Errorf("read credential: %w", err)
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return f, fmt.Errorf("%s is not an admin credential file: %w", path, err)
	}
	if f.ClientID == "" || f.ClientSecret.IsZero() {
		return f, fmt.Errorf("%s has no clientId or clientSecret", path)
	}
	return f, nil
}

func run(cfg config) error {
	hc, err := loadgen.NewHTTPClient(cfg.caFile, cfg.opts.Workers)
	if err != nil {
		return fmt.Errorf("-ca: %w", err)
	}
	secretURL := cfg.vaultURL + "/secrets/" + url.PathEscape(cfg.secretName) + "?api-version=" + apiVersion
	u, err := url.Parse(secretURL)
	if err != nil {
		return fmt.Errorf("secret URL %q: %w", secretURL, err)
	}
	ctx := context.Background()

	tokenURL, scope, err := challenge(ctx, hc, secretURL, cfg)
	if err != nil {
		return err
	}
	tok, err := oauthclient.RequestToken(ctx, hc, tokenURL, cfg.clientID, oauthclient.SecretCredential(cfg.secret), scope)
	if err != nil {
		return fmt.Errorf("get a token for %s: %w", scope, err)
	}
	if !tok.ExpiresAt.IsZero() && time.Until(tok.ExpiresAt) < cfg.opts.Duration+30*time.Second {
		return fmt.Errorf("the token expires in %s, before the run would end: give a shorter -d", time.Until(tok.ExpiresAt).Round(time.Second))
	}
	auth := []string{"Bearer " + tok.AccessToken}
	fmt.Printf("vault: %s  secret: %s  op: %s  value size: %d bytes\n", cfg.vaultURL, cfg.secretName, cfg.op, cfg.valueSize)
	fmt.Printf("token: %s for %s from %s\n", tok, scope, tokenURL)

	// One write before the run, for both operations: it checks the token and
	// the caller's role, and gives -op get something to read.
	values := newValueSource(cfg.valueSize, uint64(time.Now().UnixNano()))
	first := values.next()
	want := first.value()
	if err := expect(hc, newPut(ctx, u, auth, first), http.StatusOK, nil); err != nil {
		return fmt.Errorf("set secret %q: %w", cfg.secretName, err)
	}
	var got struct {
		Value string `json:"value"`
	}
	if err := expect(hc, newGet(ctx, u, auth), http.StatusOK, &got); err != nil {
		return fmt.Errorf("get secret %q: %w", cfg.secretName, err)
	}
	if got.Value != want {
		return fmt.Errorf("get secret %q after setting it: the vault returned a %d-byte value, not the %d bytes just set", cfg.secretName, len(got.Value), len(want))
	}

	var do loadgen.Request
	switch cfg.op {
	case "get":
		do = func(ctx context.Context, _ int) (int, error) { return loadgen.Send(hc, newGet(ctx, u, auth)) }
	case "set":
		do = func(ctx context.Context, _ int) (int, error) {
			return loadgen.Send(hc, newPut(ctx, u, auth, values.next()))
		}
	}
	res := loadgen.Run(ctx, cfg.opts, do)
	res.Report(os.Stdout, "req/s")
	if n := res.Failures(); n > 0 {
		return fmt.Errorf("%d requests failed", n)
	}
	return nil
}

// challenge sends an unauthenticated GET to secretURL and derives the token
// endpoint and scope from the vault's 401 Bearer challenge.
func challenge(ctx context.Context, hc *http.Client, secretURL string, cfg config) (tokenURL, scope string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, secretURL, nil)
	if err != nil {
		return "", "", err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", "", fmt.Errorf("reach the vault: %w", err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		return "", "", fmt.Errorf("GET %s without a token answered HTTP %d, not 401 with a Bearer challenge: is %s a Portcullis vault URL? %s",
			strings.TrimSuffix(secretURL, "?api-version="+apiVersion), resp.StatusCode, cfg.vaultURL, errorText(body))
	}
	ch, err := vaultclient.ParseChallenge(resp.Header.Get("WWW-Authenticate"))
	if err != nil {
		return "", "", fmt.Errorf("the vault's 401 challenge is unusable: %w", err)
	}
	tokenURL, err = tokenEndpoint(cfg, ch)
	if err != nil {
		return "", "", err
	}
	return tokenURL, ch.TokenScope(), nil
}

// tokenEndpoint returns -token-url, else the v2 token endpoint of the
// challenge's authority (with -tenant in place of its tenant when given),
// else that of -tenant on the vault's own host. It must be on loopback.
func tokenEndpoint(cfg config, ch vaultclient.Challenge) (string, error) {
	if cfg.tokenURL != "" {
		return cfg.tokenURL, nil
	}
	var base, tenant string
	if ch.Authorization != "" {
		a, err := loadgen.CheckLoopbackURL(strings.TrimRight(ch.Authorization, "/"))
		if err != nil {
			return "", fmt.Errorf("the vault's challenge names the authority %q, which this tool will not call: %w (give -token-url)", ch.Authorization, err)
		}
		base = a.Scheme + "://" + a.Host
		tenant = strings.Trim(a.Path, "/")
	} else {
		v, err := url.Parse(cfg.vaultURL)
		if err != nil {
			return "", err
		}
		base = v.Scheme + "://" + v.Host
	}
	if cfg.tenant != "" {
		tenant = cfg.tenant
	}
	if tenant == "" || strings.Contains(tenant, "/") {
		return "", fmt.Errorf("cannot tell the tenant from the vault's challenge authority %q: give -tenant or -token-url", ch.Authorization)
	}
	return base + "/" + url.PathEscape(tenant) + "/oauth2/v2.0/token", nil
}

// newGet returns a GET of the secret's latest version.
func newGet(ctx context.Context, u *url.URL, auth []string) *http.Request {
	return (&http.Request{
		Method: http.MethodGet, URL: u, Host: u.Host,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Authorization": auth, "Accept": acceptJSON},
	}).WithContext(ctx)
}

// newPut returns a PUT setting the secret to body's value. The URL and
// header values are shared between requests and never modified.
func newPut(ctx context.Context, u *url.URL, auth []string, body *valueBody) *http.Request {
	return (&http.Request{
		Method: http.MethodPut, URL: u, Host: u.Host,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Authorization": auth, "Accept": acceptJSON, "Content-Type": acceptJSON},
		Body:          body,
		ContentLength: int64(body.Len()),
	}).WithContext(ctx)
}

var acceptJSON = []string{"application/json"}

// expect sends req and checks the status; on success it decodes the JSON
// body into out (if not nil), otherwise it returns the vault's error.
func expect(hc *http.Client, req *http.Request, status int, out any) error {
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("read response: %w", err)
	}
	if resp.StatusCode != status {
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, errorText(body))
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			return fmt.Errorf("response is not the expected JSON: %w", err)
		}
	}
	return nil
}

// errorText returns the message of a Key Vault error body
// ({"error":{"code","message"}}), or the start of the body.
func errorText(body []byte) string {
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	s := strings.TrimSpace(string(body))
	if json.Unmarshal(body, &e) == nil && (e.Error.Code != "" || e.Error.Message != "") {
		s = e.Error.Code + ": " + e.Error.Message
	}
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
}
