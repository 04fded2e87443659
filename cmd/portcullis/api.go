package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/portcullis/portcullis/guard"
	"github.com/portcullis/portcullis/internal/adminclient"
	"github.com/portcullis/portcullis/internal/declarative"
	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/outbound"
)

func newAPICommand() *cobra.Command {
	var f adminFlags
	cmd := group(&cobra.Command{
		Use:   "api",
		Short: "Manage gateway APIs: routes to backends behind an inbound policy",
		Long: `Manage the gateway APIs of a tenant. An API matches requests (hosts, a path
prefix, methods), forwards them to its backend URLs, and admits only callers
that pass its policy: HTTP Basic, an API key, a client certificate or a
bearer token, with rules on roles, scopes, tenants and applications.
Credentials are never given literally: passwords and keys are vault secrets
(vault://VAULT/secrets/NAME), trusted CAs PEM files or vault certificates.
The gateway can authenticate to the backend too (--backend-auth: a client
certificate, Basic, an API key header or a bearer token from the vault,
followed as they rotate); a caller's header of the same name is replaced.
` + adminEnvHelp,
		Example: `  portcullis api create orders --path-prefix /orders --backend http://127.0.0.1:9000 \
      --bearer-tenant default --audience api://orders --role Orders.Read
  portcullis api list
  portcullis api show orders -o json
  portcullis api update orders --role Orders.Read --role Orders.Write
  portcullis api explain orders --path /orders/1 --header "Authorization: Bearer $TOKEN"
  portcullis api test orders --header "Authorization: Bearer $TOKEN"
  portcullis api delete orders`,
	})
	f.register(cmd)
	cmd.AddCommand(newAPICreateCommand(&f), newAPIUpdateCommand(&f), newAPIShowCommand(&f), newAPIListCommand(&f), newAPIDeleteCommand(&f),
		newAPIExplainCommand(&f), newAPITestCommand(&f))
	return cmd
}

// methodOrder records the policy methods in the order their first flag
// appears on the command line: pflag sets flag values in that order, and
// forgets it afterwards (Visit walks flags sorted by name).
type methodOrder struct{ seen []string }

func (o *methodOrder) note(kind string) {
	if !slices.Contains(o.seen, kind) {
		o.seen = append(o.seen, kind)
	}
}

// orderedValue is a flag value that notes its method when it is set.
type orderedValue struct {
	pflag.Value
	kind  string
	order *methodOrder
}

func (v orderedValue) Set(s string) error {
	if err := v.Value.Set(s); err != nil {
		return err
	}
	v.order.note(v.kind)
	return nil
}

// apiFlags are the flags that describe an API; each replaces the element it
// names.
type apiFlags struct {
	fromFile    string
	description string

	hosts      []string
	pathPrefix string
	methods    []string

	backends                 []string
	stripPathPrefix          bool
	backendCAs               []string
	backendServerName        string
	backendPins              []string
	skipChainValidation      bool
	backendCredential        credentialFlags
	backendAllowInsecureAuth bool
	connectTimeout           time.Duration
	headerTimeout            time.Duration
	idleTimeout              time.Duration

	allowInsecureAuth  bool
	principalHeaders   []string
	noPrincipalHeaders bool

	removeMethods []string
	basicUsers    []string
	apiKeyHeader  string
	apiKeyQuery   string
	apiKeys       []string
	clientCAs     []string
	thumbprints   []string
	subjects      []string
	issuers       []string
	crls          []string
	crlMode       string
	ocsp          string
	noRevocation  bool
	bearerTenants []string
	bearerIssuers []string
	audiences     []string
	algorithms    []string
	bearerBound   bool
	realm         string
	anonymous     bool

	roles, scopes, allowedTenants, allowedApps, allowedObjectIDs []string
	require                                                      string

	order methodOrder
}

func (f *apiFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.fromFile, "from-file", "", "read the whole API from a JSON or YAML file (- for stdin), in the admin API's format; flags given alongside replace what they name")
	fs.StringVar(&f.description, "description", "", "what the API is")

	fs.StringArrayVar(&f.hosts, "host", nil, "host the API answers for, e.g. api.example.com or *.example.com (repeatable; none: any host)")
	fs.StringVar(&f.pathPrefix, "path-prefix", "", "path prefix the API answers for, e.g. /orders (/ for every path)")
	fs.StringArrayVar(&f.methods, "method", nil, "HTTP method the API answers for (repeatable; none: every method)")

	fs.StringArrayVar(&f.backends, "backend", nil, "backend URL, http(s)://host[:port][/base-path] (repeatable: requests are spread over them)")
	fs.BoolVar(&f.stripPathPrefix, "strip-path-prefix", false, "remove the path prefix before forwarding")
	fs.StringArrayVar(&f.backendCAs, "backend-ca", nil, "CA the backend's certificate must chain to: a PEM file or vault://VAULT/certificates/NAME (repeatable; none: system roots; replaces a stored --backend-skip-chain-validation)")
	fs.StringVar(&f.backendServerName, "backend-server-name", "", "name the backend's certificate must hold, when not the URL's host")
	fs.StringArrayVar(&f.backendPins, "backend-pin", nil, "accept only the backend certificate with this SHA-256 thumbprint (64 hex digits; repeatable, for rollover)")
	fs.BoolVar(&f.skipChainValidation, "backend-skip-chain-validation", false, "accept a backend certificate that chains to no trusted CA (a self-signed backend; pair it with --backend-pin); replaces the stored --backend-ca")
	fs.BoolVar(&f.skipChainValidation, "backend-insecure-skip-verify", false, "former name of --backend-skip-chain-validation")
	_ = fs.MarkDeprecated("backend-insecure-skip-verify", "use --backend-skip-chain-validation")
	f.backendCredential.register(fs, "backend-")
	fs.BoolVar(&f.backendAllowInsecureAuth, "backend-allow-insecure-auth", false, "let the backend credential (Basic, API key, bearer) go to an http:// backend (a trusted network or a test)")
	fs.DurationVar(&f.connectTimeout, "connect-timeout", 0, "time to connect to the backend (default 5s)")
	fs.DurationVar(&f.headerTimeout, "response-header-timeout", 0, "time for the backend to send its response headers (default 30s)")
	fs.DurationVar(&f.idleTimeout, "idle-timeout", 0, "how long an idle backend connection is kept (default 90s)")

	fs.BoolVar(&f.allowInsecureAuth, "allow-insecure-auth", false, "serve a Basic or API key policy on a plain-HTTP listener too")
	fs.StringArrayVar(&f.principalHeaders, "principal-header", nil, "NAME=FIELD: send the caller's FIELD to the backend in header NAME, e.g. X-Caller=subject (repeatable; replaces the default X-Portcullis-* headers); FIELD is one of "+strings.Join(directory.PrincipalHeaderFields, ", "))
	fs.BoolVar(&f.noPrincipalHeaders, "no-principal-headers", false, "send the backend no header about the caller")

	fs.BoolVar(&f.anonymous, "anonymous", false, "public API: admit every request without a credential (no policy methods or rules allowed)")
	fs.StringArrayVar(&f.removeMethods, "remove-method", nil, "remove the policy method of this type: basic, apiKey, clientCertificate or bearer (repeatable)")
	fs.StringArrayVar(&f.basicUsers, "basic-user", nil, "basic: NAME=vault://VAULT/secrets/SECRET, a user and the secret holding its password (repeatable)")
	fs.StringVar(&f.apiKeyHeader, "api-key-header", "", "apiKey: header that carries the key, e.g. x-functions-key")
	fs.StringVar(&f.apiKeyQuery, "api-key-query", "", "apiKey: query parameter that carries the key, e.g. code")
	fs.StringArrayVar(&f.apiKeys, "api-key", nil, "apiKey: KEYNAME=vault://VAULT/secrets/SECRET, an accepted key (repeatable, for rollover)")
	fs.StringArrayVar(&f.clientCAs, "client-ca", nil, "clientCertificate: CA client certificates must chain to, a PEM file or vault://VAULT/certificates/NAME (repeatable)")
	fs.StringArrayVar(&f.thumbprints, "client-cert-thumbprint", nil, "clientCertificate: accept the certificate with this SHA-1 or SHA-256 thumbprint (hex; repeatable, for rollover)")
	fs.StringArrayVar(&f.subjects, "client-cert-subject", nil, "clientCertificate: accept a certificate with this subject (e.g. CN=orders,O=Example), issued by the --client-cert-issuer of the same position and chaining to a --client-ca (repeatable)")
	fs.StringArrayVar(&f.issuers, "client-cert-issuer", nil, "clientCertificate: the issuer paired with the --client-cert-subject of the same position (repeatable)")
	fs.StringArrayVar(&f.crls, "crl", nil, "clientCertificate: check certificates against this CRL: an http(s) URL (downloaded and refreshed by the gateway), vault://VAULT/secrets/NAME (a secret holding the CRL), or a CRL file (PEM or DER; stored as PEM) (repeatable; replaces the stored CRLs; needs --client-ca)")
	fs.StringVar(&f.crlMode, "crl-mode", "", "clientCertificate: when a CRL is stale, not loaded or not signed by the issuer: hard (refuse, the default) or soft (admit and count)")
	fs.StringVar(&f.ocsp, "ocsp", "", "clientCertificate: ask the OCSP responder named in the certificate: off (default), soft (admit when it cannot answer) or hard (refuse then)")
	fs.BoolVar(&f.noRevocation, "no-revocation", false, "clientCertificate: stop checking revocation (drops the stored CRLs and OCSP setting)")
	fs.StringArrayVar(&f.bearerTenants, "bearer-tenant", nil, "bearer: accept tokens of this Portcullis tenant, by name or id (repeatable)")
	fs.StringArrayVar(&f.bearerIssuers, "bearer-issuer", nil, "bearer: accept tokens of this OIDC issuer, e.g. https://login.microsoftonline.com/TENANT/v2.0 (repeatable)")
	fs.StringArrayVar(&f.audiences, "audience", nil, "bearer: accepted aud, the API's identifier URI or application id (repeatable)")
	fs.StringArrayVar(&f.algorithms, "algorithm", nil, "bearer: accepted signing algorithm (repeatable; default RS256)")
	fs.BoolVar(&f.bearerBound, "bearer-certificate-bound", false, "bearer: accept only certificate-bound tokens (RFC 8705), over HTTPS with the client certificate the token is bound to (=false to accept unbound tokens again)")
	fs.StringVar(&f.realm, "realm", "", "realm named in challenges (default: the API name)")

	fs.StringArrayVar(&f.roles, "role", nil, "rule: required app role, e.g. Orders.Read (repeatable; see --require)")
	fs.StringArrayVar(&f.scopes, "scope", nil, "rule: required delegated scope (repeatable; see --require)")
	fs.StringVar(&f.require, "require", "", "rule: any (one of the roles or scopes, the default) or all (every one)")
	fs.StringArrayVar(&f.allowedTenants, "allowed-tenant", nil, "rule: caller's tenant id (tid) must be one of these (repeatable)")
	fs.StringArrayVar(&f.allowedApps, "allowed-app", nil, "rule: caller's application id (azp/appid) must be one of these (repeatable)")
	fs.StringArrayVar(&f.allowedObjectIDs, "allowed-object-id", nil, "rule: caller's object id (oid) must be one of these (repeatable)")

	for kind, names := range map[string][]string{
		guard.SpecBasic:             {"basic-user"},
		guard.SpecAPIKey:            {"api-key-header", "api-key-query", "api-key"},
		guard.SpecClientCertificate: {"client-ca", "client-cert-thumbprint", "client-cert-subject", "client-cert-issuer", "crl", "crl-mode", "ocsp", "no-revocation"},
		guard.SpecBearer:            {"bearer-tenant", "bearer-issuer", "audience", "algorithm", "bearer-certificate-bound"},
	} {
		for _, n := range names {
			fl := fs.Lookup(n)
			fl.Value = orderedValue{Value: fl.Value, kind: kind, order: &f.order}
			fl.DefValue = "" // the wrapper hides the zero default from pflag's help

		}
	}
}

// methodOrderHelp is appended to the Long text of create and update.
const methodOrderHelp = `
Policy methods (any one admits the caller) are tried in the order in which
the first flag of each appears on the command line: --basic-user for basic;
--api-key-header, --api-key-query, --api-key for apiKey; --client-ca,
--client-cert-thumbprint, --client-cert-subject/--client-cert-issuer,
--crl, --crl-mode, --ocsp, --no-revocation for clientCertificate;
--bearer-tenant, --bearer-issuer, --audience, --algorithm,
--bearer-certificate-bound for bearer. Methods that exist already keep their place; new ones are added
after them. Each flag replaces the element it names (all --role flags
together replace the roles); --remove-method drops a method. The rules
(--role, --scope, --require, --allowed-*) must all hold after a method
admitted the caller.

Credentials are references: store the password or key in a vault first
('portcullis secret set NAME --vault VAULT --value -') and give
vault://VAULT/secrets/NAME. A --backend-ca or --client-ca that does not
start with vault:// is read as a PEM file.`

// readAPIFile reads an API in the admin API's JSON form, or the same in
// YAML, refusing unknown fields.
func readAPIFile(path string, stdin io.Reader) (directory.API, error) {
	return readObjectFile[directory.API](path, stdin, directory.CheckAPIFields, "portcullis api show NAME -o json")
}

// readObjectFile reads a T in the admin API's JSON form, or the same in
// YAML (path "-" is stdin), refusing unknown fields by path with check;
// showCommand is the command whose JSON output has the fields.
func readObjectFile[T any](path string, stdin io.Reader, check func(any) error, showCommand string) (T, error) {
	var out T
	var data []byte
	var err error
	if path == "-" {
		data, err = io.ReadAll(io.LimitReader(stdin, 1<<20+1))
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return out, fmt.Errorf("--from-file: %w", err)
	}
	if len(data) > 1<<20 {
		return out, fmt.Errorf("--from-file %s: larger than 1 MiB", path)
	}
	js, err := declarative.ToJSON(data)
	if err != nil {
		return out, fmt.Errorf("--from-file %s: %v", path, err)
	}
	var raw any
	if err := json.Unmarshal(js, &raw); err != nil {
		return out, fmt.Errorf("--from-file %s: %s", path, declarative.ShapeError(err))
	}
	if _, ok := raw.(map[string]any); !ok {
		return out, fmt.Errorf("--from-file %s does not hold an object with the fields of '%s'", path, showCommand)
	}
	if err := check(raw); err != nil {
		return out, fmt.Errorf("--from-file %s: %v", path, err)
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		return out, fmt.Errorf("--from-file %s: %s (the fields are those of '%s')", path, declarative.ShapeError(err), showCommand)
	}
	return out, nil
}

// certificateSource turns a --backend-ca or --client-ca value into what the
// API stores: a vault reference as is, else the certificates of the file
// as PEM.
func certificateSource(flag, v string) (string, error) {
	if strings.HasPrefix(v, "vault://") {
		return v, nil
	}
	// Only the certificates: a PEM file that also holds the CA's private
	// key must not send the key to the server.
	return certificatePEM(flag, v)
}

// splitAssignment splits NAME=VALUE at the last '=' (references hold none;
// a Basic user name may).
func splitAssignment(flag, v, form string) (string, string, error) {
	i := strings.LastIndex(v, "=")
	if i <= 0 || i == len(v)-1 {
		return "", "", fmt.Errorf("--%s %q: use %s", flag, v, form)
	}
	return v[:i], v[i+1:], nil
}

// apply changes api by the flags set in fs.
func (f *apiFlags) apply(fs *pflag.FlagSet, api *directory.API) error {
	set := fs.Changed
	if set("description") {
		api.Description = f.description
	}
	if set("host") {
		api.Match.Hosts = f.hosts
	}
	if set("path-prefix") {
		api.Match.PathPrefix = f.pathPrefix
	}
	if set("method") {
		api.Match.Methods = make([]string, len(f.methods))
		for i, m := range f.methods {
			api.Match.Methods[i] = strings.ToUpper(m)
		}
	}
	if set("backend") {
		api.Backend.URLs = f.backends
	}
	if set("strip-path-prefix") {
		api.Backend.StripPathPrefix = f.stripPathPrefix
	}
	skipSet := set("backend-skip-chain-validation") || set("backend-insecure-skip-verify")
	if set("backend-ca") || set("backend-server-name") || set("backend-pin") || skipSet {
		tls := directory.BackendTLS{}
		if api.Backend.TLS != nil {
			tls = *api.Backend.TLS
		}
		if set("backend-ca") {
			tls.CACertificates = nil
			for _, v := range f.backendCAs {
				src, err := certificateSource("backend-ca", v)
				if err != nil {
					return err
				}
				tls.CACertificates = append(tls.CACertificates, src)
			}
		}
		if set("backend-server-name") {
			tls.ServerName = f.backendServerName
		}
		if set("backend-pin") {
			tls.PinnedThumbprints = f.backendPins
		}
		if skipSet {
			tls.SkipChainValidation = f.skipChainValidation
		}
		// The trust in the backend is either CAs or no chain validation
		// (the pair is refused): one flag replaces the other stored before.
		switch {
		case skipSet && f.skipChainValidation && !set("backend-ca"):
			tls.CACertificates = nil
		case set("backend-ca") && len(tls.CACertificates) > 0 && !skipSet:
			tls.SkipChainValidation = false
		}
		api.Backend.TLS = &tls
		if len(tls.CACertificates) == 0 && tls.ServerName == "" && len(tls.PinnedThumbprints) == 0 && !tls.SkipChainValidation {
			api.Backend.TLS = nil
		}
	}
	if f.backendCredential.changed(fs) {
		c := outbound.CredentialSpec{}
		if api.Backend.Credential != nil {
			c = *api.Backend.Credential
		}
		if err := f.backendCredential.apply(fs, &c); err != nil {
			return err
		}
		api.Backend.Credential = &c
		if c == (outbound.CredentialSpec{Type: outbound.TypeNone}) {
			// none with no other field: no credential. With one, the
			// server says which field does not belong to none.
			api.Backend.Credential = nil
		}
	}
	if set("backend-allow-insecure-auth") {
		api.Backend.AllowInsecureAuth = f.backendAllowInsecureAuth
	}
	for _, t := range []struct {
		flag string
		d    time.Duration
		dst  *float64
	}{
		{"connect-timeout", f.connectTimeout, &api.Backend.Timeouts.ConnectSeconds},
		{"response-header-timeout", f.headerTimeout, &api.Backend.Timeouts.ResponseHeaderSeconds},
		{"idle-timeout", f.idleTimeout, &api.Backend.Timeouts.IdleSeconds},
	} {
		if set(t.flag) {
			if t.d < 0 || t.d > time.Hour {
				return fmt.Errorf("--%s %s: use a duration from 0 (the default) to 1h", t.flag, t.d)
			}
			*t.dst = t.d.Seconds()
		}
	}
	if set("allow-insecure-auth") {
		api.AllowInsecureAuth = f.allowInsecureAuth
	}
	switch {
	case set("no-principal-headers") && set("principal-header"):
		return errors.New("--no-principal-headers and --principal-header contradict each other; give one")
	case set("no-principal-headers"):
		if f.noPrincipalHeaders {
			api.PrincipalHeaders = map[string]string{}
		} else {
			api.PrincipalHeaders = nil
		}
	case set("principal-header"):
		api.PrincipalHeaders = make(map[string]string, len(f.principalHeaders))
		for _, v := range f.principalHeaders {
			name, field, err := splitAssignment("principal-header", v, "NAME=FIELD, e.g. X-Caller=subject")
			if err != nil {
				return err
			}
			api.PrincipalHeaders[name] = field
		}
	}
	if set("realm") {
		api.Policy.Realm = f.realm
	}
	if set("anonymous") {
		api.Policy.Anonymous = f.anonymous
	}
	if err := f.applyMethods(fs, &api.Policy); err != nil {
		return err
	}
	r := &api.Policy.Rules
	for _, l := range []struct {
		flag string
		src  []string
		dst  *[]string
	}{
		{"role", f.roles, &r.Roles}, {"scope", f.scopes, &r.Scopes}, {"allowed-tenant", f.allowedTenants, &r.Tenants},
		{"allowed-app", f.allowedApps, &r.Applications}, {"allowed-object-id", f.allowedObjectIDs, &r.ObjectIDs},
	} {
		if set(l.flag) {
			*l.dst = l.src
		}
	}
	if set("require") {
		r.Require = strings.ToLower(f.require)
	}
	return nil
}

// methodKinds lists the types of p's methods in order.
func methodKinds(p guard.PolicySpec) []string {
	var out []string
	for _, m := range p.Methods {
		out = append(out, m.Type)
	}
	return out
}

func (f *apiFlags) applyMethods(fs *pflag.FlagSet, p *guard.PolicySpec) error {
	set := fs.Changed
	for _, kind := range f.removeMethods {
		if !slices.Contains([]string{guard.SpecBasic, guard.SpecAPIKey, guard.SpecClientCertificate, guard.SpecBearer}, kind) {
			return fmt.Errorf("--remove-method %q: use basic, apiKey, clientCertificate or bearer", kind)
		}
		if slices.Contains(f.order.seen, kind) {
			return fmt.Errorf("--remove-method %s and flags of the %s method contradict each other; give one", kind, kind)
		}
		if !slices.ContainsFunc(p.Methods, func(m guard.MethodSpec) bool { return m.Type == kind }) {
			have := strings.Join(methodKinds(*p), ", ")
			if have == "" {
				have = "none"
			}
			return fmt.Errorf("--remove-method %s: the API has no %s method (its methods: %s); nothing to remove", kind, kind, have)
		}
		p.Methods = slices.DeleteFunc(slices.Clone(p.Methods), func(m guard.MethodSpec) bool { return m.Type == kind })
	}
	for _, kind := range f.order.seen {
		i := slices.IndexFunc(p.Methods, func(m guard.MethodSpec) bool { return m.Type == kind })
		if i < 0 {
			p.Methods = append(p.Methods, guard.MethodSpec{Type: kind})
			i = len(p.Methods) - 1
		}
		m := &p.Methods[i]
		switch kind {
		case guard.SpecBasic:
			m.Users = nil
			for _, v := range f.basicUsers {
				name, ref, err := splitAssignment("basic-user", v, "NAME=vault://VAULT/secrets/SECRET")
				if err != nil {
					return err
				}
				m.Users = append(m.Users, guard.BasicUserSpec{Name: name, Password: ref})
			}
		case guard.SpecAPIKey:
			if set("api-key-header") {
				m.Header = f.apiKeyHeader
			}
			if set("api-key-query") {
				m.Query = f.apiKeyQuery
			}
			if set("api-key") {
				m.Keys = nil
				for _, v := range f.apiKeys {
					name, ref, err := splitAssignment("api-key", v, "KEYNAME=vault://VAULT/secrets/SECRET")
					if err != nil {
						return err
					}
					m.Keys = append(m.Keys, guard.APIKeySpec{Name: name, Secret: ref})
				}
			}
		case guard.SpecClientCertificate:
			if set("client-ca") {
				m.TrustedCAs = nil
				for _, v := range f.clientCAs {
					src, err := certificateSource("client-ca", v)
					if err != nil {
						return err
					}
					m.TrustedCAs = append(m.TrustedCAs, src)
				}
			}
			if set("client-cert-subject") != set("client-cert-issuer") || len(f.subjects) != len(f.issuers) {
				return fmt.Errorf("--client-cert-subject and --client-cert-issuer come in pairs (%d subjects, %d issuers): a subject alone can be copied by any CA you trust", len(f.subjects), len(f.issuers))
			}
			if set("client-cert-thumbprint") {
				m.Pins = slices.DeleteFunc(slices.Clone(m.Pins), func(pin guard.CertificatePinSpec) bool { return pin.Thumbprint != "" })
				for _, tp := range f.thumbprints {
					m.Pins = append(m.Pins, guard.CertificatePinSpec{Thumbprint: tp})
				}
			}
			if set("client-cert-subject") {
				m.Pins = slices.DeleteFunc(slices.Clone(m.Pins), func(pin guard.CertificatePinSpec) bool { return pin.Thumbprint == "" })
				for i := range f.subjects {
					m.Pins = append(m.Pins, guard.CertificatePinSpec{Subject: f.subjects[i], Issuer: f.issuers[i]})
				}
			}
			if err := f.applyRevocation(set, m); err != nil {
				return err
			}
		case guard.SpecBearer:
			// Tenants and issuer URLs are separate elements: each flag
			// replaces its own kind and keeps the other.
			if set("bearer-tenant") {
				m.Issuers = slices.DeleteFunc(slices.Clone(m.Issuers), func(is guard.IssuerSpec) bool { return is.Tenant != "" })
				for _, tn := range f.bearerTenants {
					m.Issuers = append(m.Issuers, guard.IssuerSpec{Tenant: tn})
				}
			}
			if set("bearer-issuer") {
				m.Issuers = slices.DeleteFunc(slices.Clone(m.Issuers), func(is guard.IssuerSpec) bool { return is.Tenant == "" })
				for _, is := range f.bearerIssuers {
					m.Issuers = append(m.Issuers, guard.IssuerSpec{Issuer: is})
				}
			}
			if set("audience") {
				m.Audiences = f.audiences
			}
			if set("algorithm") {
				m.Algorithms = f.algorithms
			}
			if set("bearer-certificate-bound") {
				m.CertificateBound = f.bearerBound
			}
		}
	}
	return nil
}

// applyRevocation sets a clientCertificate method's revocation checking
// from --crl, --crl-mode, --ocsp and --no-revocation.
func (f *apiFlags) applyRevocation(set func(string) bool, m *guard.MethodSpec) error {
	if f.noRevocation {
		if set("crl") || set("crl-mode") || set("ocsp") {
			return errors.New("--no-revocation and --crl, --crl-mode or --ocsp contradict each other; give one")
		}
		m.Revocation = nil
		return nil
	}
	if !set("crl") && !set("crl-mode") && !set("ocsp") {
		return nil
	}
	var rv guard.RevocationSpec
	if m.Revocation != nil {
		rv = *m.Revocation
		rv.CRLs = slices.Clone(rv.CRLs)
	}
	if set("crl") {
		rv.CRLs = nil
		for _, v := range f.crls {
			src, err := crlSource(v)
			if err != nil {
				return err
			}
			rv.CRLs = append(rv.CRLs, src)
		}
	}
	if set("crl-mode") {
		rv.CRLMode = f.crlMode
	}
	if set("ocsp") {
		rv.OCSP = f.ocsp
	}
	if err := guard.CheckCRLMode(rv.CRLMode); err != nil {
		return fmt.Errorf("--crl-mode %w", err)
	}
	if err := guard.CheckOCSPMode(rv.OCSP); err != nil {
		return fmt.Errorf("--ocsp %w", err)
	}
	if len(rv.CRLs) == 0 && rv.CRLMode == "" && (rv.OCSP == "" || rv.OCSP == guard.RevocationOff) {
		m.Revocation = nil // nothing left to check
		return nil
	}
	m.Revocation = &rv
	return nil
}

// crlSource turns a --crl value into what the API stores: a URL or a vault
// reference as is, else the CRL of the file as PEM.
func crlSource(v string) (string, error) {
	if strings.HasPrefix(v, "vault://") || guard.IsCRLURL(v) {
		return v, nil
	}
	b, err := os.ReadFile(v)
	if err != nil {
		return "", fmt.Errorf("--crl %s: %v (give a CRL file, an http(s) URL or vault://VAULT/secrets/NAME)", v, err)
	}
	l, err := guard.ParseCRL(b)
	if err != nil {
		return "", fmt.Errorf("--crl %s: %v", v, err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: l.Raw})), nil
}

func newAPICreateCommand(f *adminFlags) *cobra.Command {
	var af apiFlags
	cmd := &cobra.Command{
		Use:   "create [NAME]",
		Short: "Create a gateway API",
		Long: `Create an API named NAME (1-63 lower-case letters, digits and '-', starting
with a letter) from the flags, or from --from-file with the flags replacing
what they name. It needs at least --path-prefix, one --backend and one
policy method.
` + methodOrderHelp,
		Example: `  # Basic: an API connector calls with a user name and password
  portcullis secret set claims-password --value - < password.txt
  portcullis api create claims --path-prefix /claims --backend http://127.0.0.1:7071 \
      --basic-user connector=vault://default/secrets/claims-password

  # client certificate: two pinned certificates (SHA-1 or SHA-256 thumbprints)
  # accepted side by side during a rollover
  portcullis api create signup --host api.example.com --path-prefix /signup \
      --backend https://signup.internal:8443 \
      --client-cert-thumbprint $OLD_THUMBPRINT --client-cert-thumbprint $NEW_THUMBPRINT

  # client certificate of a CA, checked against the CA's CRL (downloaded and
  # refreshed by the gateway) and by OCSP, admitting when the responder is down
  portcullis api create payments --path-prefix /payments --backend https://payments.internal \
      --client-ca vault://default/certificates/clients-ca \
      --crl https://pki.example.com/clients-ca.crl --ocsp soft

  # API key in the x-functions-key header (or ?code=), two keys during a rollover
  portcullis api create functions --path-prefix /api --backend http://127.0.0.1:7071 \
      --api-key-header x-functions-key --api-key-query code \
      --api-key current=vault://default/secrets/functions-key \
      --api-key next=vault://default/secrets/functions-key-next

  # bearer: tokens of tenant default for api://orders with the role Orders.Read
  portcullis api create orders --path-prefix /orders --method GET \
      --backend http://127.0.0.1:9000 \
      --bearer-tenant default --audience api://orders --role Orders.Read

  # bearer, certificate-bound tokens only (RFC 8705): a token for api://payments
  # (app created with --require-certificate-bound-tokens) works only over HTTPS
  # with the client certificate it was issued to
  portcullis api create payments --path-prefix /payments --backend http://127.0.0.1:9002 \
      --bearer-tenant default --audience api://payments --bearer-certificate-bound

  # the gateway presents a client certificate from the vault to the backend
  portcullis api create billing --path-prefix /billing --backend https://billing.internal:8443 \
      --bearer-tenant default --audience api://billing \
      --backend-auth clientCertificate --backend-certificate vault://default/certificates/gw-client

  # from a file (JSON or YAML, the fields of 'api show -o json')
  portcullis api create --from-file orders.yaml --backend http://127.0.0.1:9001`,
		Args: cobra.RangeArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var api directory.API
			if af.fromFile != "" {
				var err error
				if api, err = readAPIFile(af.fromFile, cmd.InOrStdin()); err != nil {
					return err
				}
			}
			switch {
			case len(args) == 1 && api.Name != "" && api.Name != args[0]:
				return fmt.Errorf("the name %q differs from the name %q in --from-file %s; give one", args[0], api.Name, af.fromFile)
			case len(args) == 1:
				api.Name = args[0]
			case api.Name == "":
				return errors.New("give the API's NAME (or a name in --from-file)")
			}
			if err := af.apply(cmd.Flags(), &api); err != nil {
				return err
			}
			return f.run(cmd, func(c *adminclient.Client, p *printer) error {
				created, err := c.CreateAPI(cmd.Context(), f.tenant, api)
				if err != nil {
					return flagNamedError{err}
				}
				if p.json {
					return p.JSON(created)
				}
				p.linef("created API %s", created.Name)
				return showAPI(p, created)
			})
		},
	}
	af.register(cmd.Flags())
	return cmd
}

func newAPIUpdateCommand(f *adminFlags) *cobra.Command {
	var af apiFlags
	cmd := &cobra.Command{
		Use:   "update NAME",
		Short: "Change a gateway API",
		Long: `Change an API: read it, replace what the given flags name, and write it
back only if nobody changed it in between (else read again and retry).
With --from-file the file replaces the whole API first.
` + methodOrderHelp,
		Example: `  # add the next client certificate during a rollover (both stay accepted)
  portcullis api update signup \
      --client-cert-thumbprint $OLD_THUMBPRINT --client-cert-thumbprint $NEW_THUMBPRINT

  portcullis api update orders --role Orders.Read --role Orders.Write --require any
  portcullis api update orders --backend http://10.0.0.5:9000 --backend http://10.0.0.6:9000
  portcullis api update claims --remove-method basic --bearer-tenant default --audience api://claims`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			changed := 0
			cmd.LocalFlags().VisitAll(func(fl *pflag.Flag) {
				if fl.Changed {
					changed++
				}
			})
			if changed == 0 {
				return fmt.Errorf("nothing to change: give the flags of what to change, or --from-file (see 'portcullis api update --help')")
			}
			var file *directory.API
			if af.fromFile != "" {
				api, err := readAPIFile(af.fromFile, cmd.InOrStdin())
				if err != nil {
					return err
				}
				if api.Name != "" && api.Name != args[0] {
					return fmt.Errorf("--from-file %s names the API %q, not %q: an API cannot be renamed", af.fromFile, api.Name, args[0])
				}
				file = &api
			}
			return f.run(cmd, func(c *adminclient.Client, p *printer) error {
				cur, err := c.GetAPI(cmd.Context(), f.tenant, args[0])
				if err != nil {
					return err
				}
				api := cur
				if file != nil {
					api = *file
				}
				api.Name = cur.Name
				if err := af.apply(cmd.Flags(), &api); err != nil {
					return err
				}
				updated, err := c.UpdateAPI(cmd.Context(), f.tenant, api, cur.Revision)
				var ae *adminclient.APIError
				if errors.As(err, &ae) && ae.Code == "PreconditionFailed" {
					return fmt.Errorf("%s (API %s changed while this update ran; run the command again)", ae.Message, cur.Name)
				}
				if err != nil {
					return flagNamedError{err}
				}
				if p.json {
					return p.JSON(updated)
				}
				p.linef("updated API %s (revision %d)", updated.Name, updated.Revision)
				return showAPI(p, updated)
			})
		},
	}
	af.register(cmd.Flags())
	return cmd
}

func newAPIShowCommand(f *adminFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "show NAME",
		Short: "Show a gateway API",
		Long:  "Show an API: what it matches, where it forwards, its policy methods in order and its rules. Credentials are shown as their references. When the gateway of the server cannot serve the API (a reference that does not resolve, a policy that does not compile), the last line says why.",
		Example: `  portcullis api show orders
  portcullis api show orders -o json > orders.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, func(c *adminclient.Client, p *printer) error {
				api, err := c.GetAPI(cmd.Context(), f.tenant, args[0])
				if err != nil {
					return err
				}
				if p.json {
					return p.JSON(api)
				}
				if err := showAPI(p, api); err != nil {
					return err
				}
				problem, err := apiProblem(cmd.Context(), c, api)
				if err != nil {
					return fmt.Errorf("API %s is shown above, but the gateway's state could not be read: %w", api.Name, err)
				}
				if problem != "" {
					p.linef("Gateway problem: %s (the gateway answers 503 for this API until it is fixed)", oneLine(problem))
				}
				return nil
			})
		},
	}
}

func newAPIListCommand(f *adminFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the gateway APIs of the tenant",
		Long:  "List the APIs of the tenant with what they match, their backends and their policy methods.",
		Example: `  portcullis api list
  portcullis api list --tenant contoso -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.run(cmd, func(c *adminclient.Client, p *printer) error {
				apis, err := c.ListAPIs(cmd.Context(), f.tenant)
				if err != nil {
					return err
				}
				if p.json {
					return p.JSON(list(apis))
				}
				rows := make([][]string, 0, len(apis))
				for _, a := range apis {
					rows = append(rows, []string{a.Name, anyIfEmpty(a.Match.Hosts), a.Match.PathPrefix, anyIfEmpty(a.Match.Methods),
						strings.Join(a.Backend.URLs, ","), strings.Join(methodTypes(a.Policy), ","), strconv.FormatInt(a.Revision, 10)})
				}
				return p.table([]string{"NAME", "HOSTS", "PATH PREFIX", "METHODS", "BACKENDS", "POLICY", "REVISION"}, rows)
			})
		},
	}
}

func newAPIDeleteCommand(f *adminFlags) *cobra.Command {
	return &cobra.Command{
		Use:     "delete NAME",
		Short:   "Delete a gateway API",
		Long:    "Delete an API: the gateway stops answering for it at once (its requests then match another API or get 404). The secrets and certificates it references stay in their vault, and may be deleted again.",
		Example: `  portcullis api delete orders`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, func(c *adminclient.Client, p *printer) error {
				if err := c.DeleteAPI(cmd.Context(), f.tenant, args[0]); err != nil {
					return err
				}
				if !p.json {
					p.linef("deleted API %s", args[0])
				}
				return nil
			})
		},
	}
}

func anyIfEmpty(v []string) string {
	if len(v) == 0 {
		return "any"
	}
	return strings.Join(v, ",")
}

func methodTypes(p guard.PolicySpec) []string {
	out := make([]string, len(p.Methods))
	for i, m := range p.Methods {
		out[i] = m.Type
	}
	return out
}

func seconds(v, def float64) string {
	if v == 0 {
		return fmt.Sprintf("%gs (default)", def)
	}
	return fmt.Sprintf("%gs", v)
}

// showAPI prints an API for people: references as they are, PEM
// certificates counted, not dumped.
func showAPI(p *printer, a directory.API) error {
	tls := "system roots"
	if t := a.Backend.TLS; t != nil {
		var parts []string
		if n := len(t.CACertificates); n > 0 {
			parts = append(parts, fmt.Sprintf("CAs %s", certSources(t.CACertificates)))
		}
		if t.ServerName != "" {
			parts = append(parts, "server name "+t.ServerName)
		}
		if len(t.PinnedThumbprints) > 0 {
			parts = append(parts, "pinned "+strings.Join(t.PinnedThumbprints, ", "))
		}
		if t.SkipChainValidation {
			parts = append(parts, "chain NOT validated")
		}
		if len(parts) > 0 {
			tls = strings.Join(parts, "; ")
		}
	}
	backendCredential := "none"
	if a.Backend.Credential != nil {
		backendCredential = describeCredential(*a.Backend.Credential)
	}
	headers := "default (X-Portcullis-*)"
	if a.PrincipalHeaders != nil {
		var hs []string
		for k, v := range a.PrincipalHeaders {
			hs = append(hs, k+"="+v)
		}
		slices.Sort(hs)
		headers = strings.Join(hs, ", ")
		if len(hs) == 0 {
			headers = "none"
		}
	}
	if err := p.fields(
		"Name", a.Name,
		"Tenant", a.TenantID,
		"Description", a.Description,
		"Hosts", anyIfEmpty(a.Match.Hosts),
		"Path prefix", a.Match.PathPrefix,
		"Methods", anyIfEmpty(a.Match.Methods),
		"Backends", strings.Join(a.Backend.URLs, ", "),
		"Strip path prefix", yesNo(a.Backend.StripPathPrefix),
		"Backend TLS", tls,
		"Backend credential", backendCredential,
		"Backend insecure auth", yesNo(a.Backend.AllowInsecureAuth),
		"Timeouts", fmt.Sprintf("connect %s, response headers %s, idle %s", seconds(a.Backend.Timeouts.ConnectSeconds, 5), seconds(a.Backend.Timeouts.ResponseHeaderSeconds, 30), seconds(a.Backend.Timeouts.IdleSeconds, 90)),
		"Insecure auth", yesNo(a.AllowInsecureAuth),
		"Principal headers", headers,
		"Revision", strconv.FormatInt(a.Revision, 10),
		"Created", when(a.CreatedAt),
		"Updated", when(a.UpdatedAt),
	); err != nil {
		return err
	}
	if a.Policy.Anonymous {
		p.linef("Policy: anonymous (public: every request is admitted without a credential)")
		warnBackendChain(p, a)
		return nil
	}
	p.linef("Policy (any one method admits, tried in this order):")
	for i, m := range a.Policy.Methods {
		p.linef("  %d. %s", i+1, describeMethod(m))
	}
	r := a.Policy.Rules
	var rules []string
	if len(r.Roles)+len(r.Scopes) > 0 {
		req := "any of"
		if r.Require == guard.RequireAll {
			req = "all of"
		}
		var rs []string
		if len(r.Roles) > 0 {
			rs = append(rs, "roles "+strings.Join(r.Roles, ", "))
		}
		if len(r.Scopes) > 0 {
			rs = append(rs, "scopes "+strings.Join(r.Scopes, ", "))
		}
		rules = append(rules, req+" "+strings.Join(rs, "; "))
	}
	for _, l := range []struct {
		what   string
		values []string
	}{{"tenant in", r.Tenants}, {"application in", r.Applications}, {"object id in", r.ObjectIDs}} {
		if len(l.values) > 0 {
			rules = append(rules, l.what+" "+strings.Join(l.values, ", "))
		}
	}
	if len(rules) == 0 {
		rules = []string{"none"}
	}
	p.linef("Rules (all must hold): %s", strings.Join(rules, "; "))
	warnBackendChain(p, a)
	return nil
}

// warnBackendChain prints the WARNING line of a backend whose certificate
// chain is not validated.
func warnBackendChain(p *printer, a directory.API) {
	t := a.Backend.TLS
	switch {
	case t == nil || !t.SkipChainValidation:
	case len(t.PinnedThumbprints) > 0:
		p.linef("WARNING: the backend's certificate chain is not validated (backend.tls.skipChainValidation); only the pinned thumbprints are checked")
	default:
		p.linef("WARNING: the backend's certificate is not verified (backend.tls.skipChainValidation without pins): anyone on the path can impersonate the backend")
	}
}

func certSources(srcs []string) string {
	out := make([]string, len(srcs))
	for i, s := range srcs {
		out[i] = s
		if !strings.HasPrefix(s, "vault://") {
			n, noun := strings.Count(s, "-----BEGIN CERTIFICATE-----"), "certificates"
			if n == 1 {
				noun = "certificate"
			}
			out[i] = fmt.Sprintf("PEM (%d %s)", n, noun)
		}
	}
	return strings.Join(out, ", ")
}

func describeMethod(m guard.MethodSpec) string {
	var parts []string
	switch m.Type {
	case guard.SpecBasic:
		for _, u := range m.Users {
			parts = append(parts, u.Name+" ("+u.Password+")")
		}
		return "basic: users " + strings.Join(parts, ", ")
	case guard.SpecAPIKey:
		var where []string
		if m.Header != "" {
			where = append(where, "header "+m.Header)
		}
		if m.Query != "" {
			where = append(where, "query ?"+m.Query+"=")
		}
		for _, k := range m.Keys {
			parts = append(parts, k.Name+" ("+k.Secret+")")
		}
		return "apiKey in " + strings.Join(where, " or ") + ": keys " + strings.Join(parts, ", ")
	case guard.SpecClientCertificate:
		if len(m.TrustedCAs) > 0 {
			parts = append(parts, "chaining to "+certSources(m.TrustedCAs))
		}
		var pins []string
		for _, pin := range m.Pins {
			if pin.Thumbprint != "" {
				pins = append(pins, "thumbprint "+pin.Thumbprint)
			} else {
				pins = append(pins, fmt.Sprintf("subject %q issued by %q", pin.Subject, pin.Issuer))
			}
		}
		if len(pins) > 0 {
			parts = append(parts, "pinned to "+strings.Join(pins, ", "))
		}
		if rv := m.Revocation; rv != nil {
			var checks []string
			if len(rv.CRLs) > 0 {
				srcs := make([]string, len(rv.CRLs))
				for i, c := range rv.CRLs {
					srcs[i] = c
					if strings.Contains(c, "-----BEGIN") {
						srcs[i] = "PEM CRL"
					}
				}
				checks = append(checks, fmt.Sprintf("CRLs %s (%s)", strings.Join(srcs, ", "), cmp.Or(rv.CRLMode, guard.RevocationHard)))
			}
			if rv.OCSP != "" && rv.OCSP != guard.RevocationOff {
				checks = append(checks, "OCSP ("+rv.OCSP+")")
			}
			parts = append(parts, "revocation checked by "+strings.Join(checks, " and "))
		}
		return "clientCertificate " + strings.Join(parts, "; ")
	case guard.SpecBearer:
		var iss []string
		for _, is := range m.Issuers {
			if is.Tenant != "" {
				iss = append(iss, "tenant "+is.Tenant)
			} else {
				iss = append(iss, is.Issuer)
			}
		}
		algs := "RS256 (default)"
		if len(m.Algorithms) > 0 {
			algs = strings.Join(m.Algorithms, ", ")
		}
		bound := ""
		if m.CertificateBound {
			bound = "; certificate-bound tokens only (cnf x5t#S256 = the TLS client certificate)"
		}
		return fmt.Sprintf("bearer: issuers %s; audiences %s; algorithms %s%s", strings.Join(iss, ", "), strings.Join(m.Audiences, ", "), algs, bound)
	}
	return m.Type
}
