package adminclient

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/portcullis/portcullis/internal/oauthclient"
)

// Environment variables the CLI reads.
const (
	EnvAddr         = "PORTCULLIS_ADDR"
	EnvCA           = "PORTCULLIS_CA"
	EnvData         = "PORTCULLIS_DATA"
	EnvClientID     = "PORTCULLIS_CLIENT_ID"
	EnvClientSecret = "PORTCULLIS_CLIENT_SECRET"
	EnvTenant       = "PORTCULLIS_TENANT"
)

// DefaultDataDir is the data directory when neither --data nor
// PORTCULLIS_DATA is given, as for `portcullis serve`.
const DefaultDataDir = "portcullis-data"

// CredentialFileName is the name of the admin credential file in the data
// directory.
const CredentialFileName = "admin.json"

// ManagementScope is the scope of a token for the admin API.
const ManagementScope = "api://portcullis-management/.default"

// DefaultTenant is the tenant used for tokens when PORTCULLIS_TENANT is not
// set.
const DefaultTenant = "default"

// errNoAddr is returned by LoadEndpoint when no address is configured.
var errNoAddr = errors.New("no server address")

// Flags holds the command-line flags that locate the server; empty means
// not given.
type Flags struct {
	Addr    string // --addr: base URL of the server, e.g. https://localhost:8443
	CA      string // --ca: PEM file of the CA that issued the server's TLS certificate
	DataDir string // --data: the data directory holding admin.json
}

// CredentialFile is the content of DATA/admin.json as `portcullis serve
// --dev` writes it (the same JSON shape as the server's AdminCredential).
type CredentialFile struct {
	Addr         string             `json:"addr"`
	CA           string             `json:"ca,omitempty"`
	TenantID     string             `json:"tenantId"`
	ClientID     string             `json:"clientId"`
	ClientSecret oauthclient.Secret `json:"clientSecret"`
	Scope        string             `json:"scope"`
}

// Endpoint says where the server is and how to trust its TLS certificate.
type Endpoint struct {
	Addr   string // base URL without a trailing slash
	CAFile string // PEM CA bundle to trust instead of the system roots; "" = system roots
	// CredentialFile is the admin.json path looked at, and CredentialFound
	// whether it existed; they let error messages say where we looked.
	CredentialFile  string
	CredentialFound bool
	// AddrSource says where Addr came from: "--addr", EnvAddr or the
	// admin.json path.
	AddrSource string
	file       *CredentialFile
}

// ExplainConnection turns a connection failure of err (see
// oauthclient.ConnectionError) into one message that names the address
// once and says what to do, given where the address came from; other
// errors are returned unchanged.
func (e Endpoint) ExplainConnection(err error) error {
	var ce *oauthclient.ConnectionError
	if !errors.As(err, &ce) {
		return err
	}
	var hint string
	switch e.AddrSource {
	case "--addr":
		hint = "check --addr"
	case EnvAddr:
		hint = "check " + EnvAddr + " (or override it with --addr)"
	case "":
		hint = "check the server address"
	default:
		hint = "the address is the one `portcullis serve --dev` wrote to " + e.AddrSource +
			" at its last start: start the server (portcullis serve --dev), or if it listens elsewhere give --addr https://HOST:PORT"
	}
	return &oauthclient.ConnectionError{Base: ce.Base, Reason: ce.Reason + "; " + hint, Err: ce}
}

// TokenURL returns the v2 token endpoint of tenant (an id or a name).
func (e Endpoint) TokenURL(tenant string) string {
	return e.Addr + "/" + url.PathEscape(tenant) + "/oauth2/v2.0/token"
}

// Config is everything a Client needs: where the server is, and the
// credential of an application holding the Portcullis.Admin role.
type Config struct {
	Endpoint
	TokenTenant  string // tenant in the token endpoint path
	ClientID     string
	ClientSecret oauthclient.Secret
	Scope        string
	// Source says where the credential came from, for messages: the
	// admin.json path or "environment".
	Source string
}

// TokenURL returns the token endpoint the admin token is requested from.
func (c Config) TokenURL() string { return c.Endpoint.TokenURL(c.TokenTenant) }

// LoadEndpoint finds the server address and CA: --addr, else
// PORTCULLIS_ADDR, else the addr of DATA/admin.json; --ca, else
// PORTCULLIS_CA, else the ca of admin.json when the address is the one
// admin.json names. It does not need a credential (for `token get`).
func LoadEndpoint(f Flags) (Endpoint, error) {
	var e Endpoint
	dataDir := first(f.DataDir, os.Getenv(EnvData), DefaultDataDir)
	path := filepath.Join(dataDir, CredentialFileName)
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	e.CredentialFile = path
	file, err := readCredentialFile(path)
	if err != nil {
		return e, err
	}
	e.file = file
	e.CredentialFound = file != nil

	addrSource := ""
	switch {
	case f.Addr != "":
		e.Addr, addrSource = f.Addr, "--addr"
	case os.Getenv(EnvAddr) != "":
		e.Addr, addrSource = os.Getenv(EnvAddr), EnvAddr
	case file != nil && file.Addr != "":
		e.Addr, addrSource = file.Addr, path
	default:
		return e, fmt.Errorf("%w: set --addr or %s (for example https://sts.example.com), "+
			"or point --data or %s at the data directory of `portcullis serve --dev` (looked for %s)", errNoAddr, EnvAddr, EnvData, path)
	}
	e.AddrSource = addrSource
	addr, err := normalizeAddr(e.Addr)
	if err != nil {
		return e, fmt.Errorf("%s: %w", addrSource, err)
	}
	e.Addr = addr

	switch {
	case f.CA != "":
		e.CAFile = f.CA
	case os.Getenv(EnvCA) != "":
		e.CAFile = os.Getenv(EnvCA)
	case file != nil && file.CA != "" && e.sameAddrAsFile():
		e.CAFile = file.CA
		if !filepath.IsAbs(e.CAFile) {
			e.CAFile = filepath.Join(filepath.Dir(path), e.CAFile)
		}
	}
	return e, nil
}

// sameAddrAsFile reports whether the chosen address is the one in admin.json.
func (e Endpoint) sameAddrAsFile() bool {
	if e.file == nil {
		return false
	}
	fa, err := normalizeAddr(e.file.Addr)
	return err == nil && strings.EqualFold(fa, e.Addr)
}

// LoadConfig finds the server (see LoadEndpoint) and the admin credential:
// PORTCULLIS_CLIENT_ID with PORTCULLIS_CLIENT_SECRET (and
// PORTCULLIS_TENANT, default "default") when set, else DATA/admin.json.
// Explicitly set environment variables win over the file found implicitly,
// so that a production credential is never swapped for a local dev one. The
// error when neither exists names the file looked for and what to set.
func LoadConfig(f Flags) (Config, error) {
	e, err := LoadEndpoint(f)
	if err != nil {
		if errors.Is(err, errNoAddr) && !e.CredentialFound && os.Getenv(EnvClientID) == "" {
			return Config{}, noCredentialError(e.CredentialFile)
		}
		return Config{}, err
	}
	cfg := Config{Endpoint: e, Scope: ManagementScope}
	id, secret := os.Getenv(EnvClientID), os.Getenv(EnvClientSecret)
	switch {
	case id != "":
		if secret == "" {
			return Config{}, fmt.Errorf("%s is set but %s is not: set both to the admin application's client id and secret", EnvClientID, EnvClientSecret)
		}
		cfg.ClientID, cfg.ClientSecret = id, oauthclient.NewSecret(secret)
		cfg.TokenTenant = first(os.Getenv(EnvTenant), DefaultTenant)
		cfg.Source = "environment (" + EnvClientID + ")"
	case e.file != nil:
		if e.file.ClientID == "" || e.file.ClientSecret.IsZero() {
			return Config{}, fmt.Errorf("admin credential file %s has no clientId or clientSecret: restore it from the first start of `portcullis serve --dev`, or set %s and %s", e.CredentialFile, EnvClientID, EnvClientSecret)
		}
		cfg.ClientID, cfg.ClientSecret = e.file.ClientID, e.file.ClientSecret
		cfg.TokenTenant = first(e.file.TenantID, DefaultTenant)
		cfg.Scope = first(e.file.Scope, ManagementScope)
		cfg.Source = e.CredentialFile
		if f.CA == "" && os.Getenv(EnvCA) == "" && e.CAFile == "" && e.file.CA != "" {
			// The dev credential only works with the dev server, whose TLS
			// certificate the dev CA issued, whatever spelling of its
			// address was given.
			cfg.CAFile = e.file.CA
			if !filepath.IsAbs(cfg.CAFile) {
				cfg.CAFile = filepath.Join(filepath.Dir(e.CredentialFile), cfg.CAFile)
			}
		}
	default:
		return Config{}, noCredentialError(e.CredentialFile)
	}
	return cfg, nil
}

func noCredentialError(path string) error {
	return fmt.Errorf("no admin credential: %s does not exist (`portcullis serve --dev` writes it on first start; "+
		"use --data DIR or %s if the data directory is elsewhere), and %s/%s are not set "+
		"(for a production server set them to the client id and secret of an application holding the Portcullis.Admin role, "+
		"with %s or --addr, and %s if the tenant is not \"default\")",
		path, EnvData, EnvClientID, EnvClientSecret, EnvAddr, EnvTenant)
}

// readCredentialFile returns nil, nil when path does not exist.
func readCredentialFile(path string) (*CredentialFile, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("admin credential file: %w", err)
	}
	var c CredentialFile
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("admin credential file %s is not valid JSON (%v): restore it or remove it and set %s/%s", path, err, EnvClientID, EnvClientSecret)
	}
	return &c, nil
}

// normalizeAddr checks that addr is an https URL (http only to a loopback
// host: credentials must not cross a network in clear text) without user
// info, query or fragment, and returns it without a trailing slash; a path
// is kept as the prefix the server is mounted under.
func normalizeAddr(addr string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(addr))
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return "", fmt.Errorf("server address %q: want a URL such as https://localhost:8443", addr)
	}
	if u.Scheme == "http" {
		host := u.Hostname()
		ip := net.ParseIP(host)
		if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return "", fmt.Errorf("server address %q: plain http would send credentials in clear text; use https", addr)
		}
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("server address %q: give only scheme, host, port and an optional path prefix", addr)
	}
	return strings.TrimRight(u.Scheme+"://"+u.Host+u.EscapedPath(), "/"), nil
}

// NewHTTPClient returns an HTTP client for the server: it trusts only the
// CA certificates in caFile (PEM, or one DER certificate) when caFile is
// set, the system roots otherwise.
func NewHTTPClient(caFile string) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pool := x509.NewCertPool()
		if err := addCAFile(pool, caFile); err != nil {
			return nil, err
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	return &http.Client{Transport: tr, Timeout: 60 * time.Second}, nil
}

// addCAFile adds the CA certificates in caFile (PEM, or one DER
// certificate) to pool.
func addCAFile(pool *x509.CertPool, caFile string) error {
	b, err := os.ReadFile(caFile)
	if err != nil {
		return fmt.Errorf("CA file (--ca or %s): %w", EnvCA, err)
	}
	if !pool.AppendCertsFromPEM(b) {
		cert, err := x509.ParseCertificate(b)
		if err != nil {
			return fmt.Errorf("CA file %s holds no certificate: give a PEM file with the CA certificate (for a dev server: DATA/tls/ca.pem)", caFile)
		}
		pool.AddCert(cert)
	}
	return nil
}

// first returns the first non-empty string.
func first(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
