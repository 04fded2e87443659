package declarative

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	yamlv2 "go.yaml.in/yaml/v2"

	"github.com/portcullis/portcullis/internal/directory"
)

// maxFileBytes bounds one configuration file and one referenced file
// (certificate, key, secret value).
const maxFileBytes = 4 << 20

// Document is a declarative configuration: what the files say the server
// should hold. Its JSON (and YAML) field names are the admin API's.
type Document struct {
	Tenants []Tenant `json:"tenants,omitempty"`
	Vaults  []Vault  `json:"vaults,omitempty"`
}

// Tenant is a directory tenant with what lives in it.
type Tenant struct {
	Name         string        `json:"name"`
	Applications []Application `json:"applications,omitempty"`
	Grants       []Grant       `json:"grants,omitempty"`
	APIs         []API         `json:"apis,omitempty"`
	Connectors   []Connector   `json:"connectors,omitempty"`

	at string // where the document declares it, for errors
}

// Application is an app registration, named by its display name (unique in
// its tenant). IdentifierURIs, AccessTokenLifetimeSeconds and
// RequireCertificateBoundTokens left out keep the server's value (default
// api://{appId}, 3600 and false).
type Application struct {
	DisplayName                   string               `json:"displayName"`
	IdentifierURIs                []string             `json:"identifierUris,omitempty"`
	AccessTokenLifetimeSeconds    int                  `json:"accessTokenLifetimeSeconds,omitempty"`
	RequireCertificateBoundTokens *bool                `json:"requireCertificateBoundTokens,omitempty"`
	AppRoles                      []AppRole            `json:"appRoles,omitempty"`
	KeyCredentials                []KeyCredential      `json:"keyCredentials,omitempty"`
	PasswordCredentials           []PasswordCredential `json:"passwordCredentials,omitempty"`
	// FederatedIdentityCredentials are matched by name (any case), like app
	// roles by value.
	FederatedIdentityCredentials []FederatedIdentityCredential `json:"federatedIdentityCredentials,omitempty"`

	at string
}

// AppRole is an application permission, named by its value.
type AppRole struct {
	Value       string `json:"value"`
	DisplayName string `json:"displayName,omitempty"`
	Description string `json:"description,omitempty"`
}

// KeyCredential is a certificate the application authenticates with, read
// from CertificateFile (DER, PEM or PFX; only the public part is sent) and
// matched by its SHA-1 thumbprint. Thumbprint, when given, must be the
// file's: export writes it so that a wrong file is caught.
type KeyCredential struct {
	CertificateFile string `json:"certificateFile"`
	PasswordFromEnv string `json:"passwordFromEnv,omitempty"`
	Description     string `json:"description,omitempty"`
	Thumbprint      string `json:"thumbprint,omitempty"`

	data        []byte // the file's bytes
	pfxPassword secretString
	thumbprint  string // computed, upper-case hex
	missing     string // why the file could not be read ("" when it was)
}

// FederatedIdentityCredential makes the application trust an external
// issuer's tokens for one subject (workload identity federation,
// docs/federation.md), matched by Name. Audiences left out means
// ["api://AzureADTokenExchange"]; Keys is the issuer's JWK Set itself, for
// an issuer whose keys cannot be fetched.
type FederatedIdentityCredential struct {
	Name        string          `json:"name"`
	Issuer      string          `json:"issuer"`
	Subject     string          `json:"subject"`
	Audiences   []string        `json:"audiences,omitempty"`
	Description string          `json:"description,omitempty"`
	JWKSURI     string          `json:"jwksUri,omitempty"`
	Keys        json.RawMessage `json:"keys,omitempty"`
}

// directory returns f as the directory's credential, for validation.
func (f *FederatedIdentityCredential) directory() directory.FederatedIdentityCredential {
	return directory.FederatedIdentityCredential{Name: f.Name, Issuer: f.Issuer, Subject: f.Subject, Audiences: f.Audiences,
		Description: f.Description, JWKSURI: f.JWKSURI, Keys: f.Keys}
}

// PasswordCredential is a client secret, matched by its description. The
// server generates the secret; apply writes it, the only time it is shown,
// to SaveTo (created with mode 0600; an existing file is refused).
type PasswordCredential struct {
	Description      string `json:"description"`
	ExpiresInSeconds int64  `json:"expiresInSeconds,omitempty"`
	SaveTo           string `json:"saveTo"`
}

// Grant gives Client the app role Role of Resource (display names of
// applications of the same tenant; Role is the app role's value).
type Grant struct {
	Client   string `json:"client"`
	Resource string `json:"resource"`
	Role     string `json:"role"`
}

// Vault is a vault with its role assignments and objects.
type Vault struct {
	Name                    string           `json:"name"`
	SoftDeleteRetentionDays int              `json:"softDeleteRetentionDays,omitempty"`
	PurgeProtection         bool             `json:"purgeProtection,omitempty"`
	RoleAssignments         []RoleAssignment `json:"roleAssignments,omitempty"`
	Secrets                 []Secret         `json:"secrets,omitempty"`
	Certificates            []Certificate    `json:"certificates,omitempty"`
	Keys                    []Key            `json:"keys,omitempty"`

	at string
}

// RoleAssignment gives the application Principal (display name) of Tenant
// ("" = default) a built-in vault role on the vault or, with Scope
// (secrets/NAME, certificates/NAME, keys/NAME), on one object of it.
type RoleAssignment struct {
	Principal string `json:"principal"`
	Tenant    string `json:"tenant,omitempty"`
	Role      string `json:"role"`
	Scope     string `json:"scope,omitempty"`
}

// ValueSource names where a secret value comes from: exactly one of an
// environment variable and a file (relative to the configuration file).
type ValueSource struct {
	FromEnv  string `json:"fromEnv,omitempty"`
	FromFile string `json:"fromFile,omitempty"`
}

// Secret is a vault secret whose value comes from Value's source.
type Secret struct {
	Name        string      `json:"name"`
	ContentType string      `json:"contentType,omitempty"`
	Value       ValueSource `json:"value"`

	value secretString
}

// Certificate is a vault certificate imported from FromFile (PFX, or PEM
// with the private key), matched by its x5t thumbprint.
type Certificate struct {
	Name            string `json:"name"`
	FromFile        string `json:"fromFile"`
	PasswordFromEnv string `json:"passwordFromEnv,omitempty"`
	Thumbprint      string `json:"thumbprint,omitempty"`

	data        []byte
	pfxPassword secretString
	x5t         string // computed
	missing     string // why the file could not be read ("" when it was)
}

// Key is a vault key: generated by the vault (Kty with KeySize or Curve) or
// imported from the PEM private key FromFile.
type Key struct {
	Name     string   `json:"name"`
	Kty      string   `json:"kty,omitempty"`
	KeySize  int      `json:"keySize,omitempty"`
	Curve    string   `json:"curve,omitempty"`
	KeyOps   []string `json:"keyOps,omitempty"`
	FromFile string   `json:"fromFile,omitempty"`

	imported *importedKey
}

// API is a gateway API in the admin API's JSON shape, without the fields
// the server sets (tenantId, revision, createdAt, updatedAt).
type API struct{ directory.API }

// Connector is an API connector in the admin API's JSON shape, without the
// fields the server sets (tenantId, revision, createdAt, updatedAt).
type Connector struct{ directory.Connector }

// serverFields are set by the server and never part of a document.
var serverFields = []string{"tenantId", "revision", "createdAt", "updatedAt"}

// MarshalJSON writes the API without its server fields.
func (a API) MarshalJSON() ([]byte, error) { return withoutServerFields(a.API) }

// UnmarshalJSON reads an API strictly (unknown fields are errors).
func (a *API) UnmarshalJSON(b []byte) error { return strictServerShape(b, &a.API) }

// MarshalJSON writes the connector without its server fields.
func (c Connector) MarshalJSON() ([]byte, error) { return withoutServerFields(c.Connector) }

// UnmarshalJSON reads a connector strictly (unknown fields are errors).
func (c *Connector) UnmarshalJSON(b []byte) error { return strictServerShape(b, &c.Connector) }

// withoutServerFields is v's JSON object without the server fields and
// without null members, its other members in their order.
func withoutServerFields(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("not a JSON object: %s", clip(string(b)))
	}
	var out bytes.Buffer
	out.WriteByte('{')
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, err
		}
		if slices.Contains(serverFields, key) || string(raw) == "null" {
			continue
		}
		if out.Len() > 1 {
			out.WriteByte(',')
		}
		k, _ := json.Marshal(key)
		out.Write(k)
		out.WriteByte(':')
		out.Write(raw)
	}
	out.WriteByte('}')
	return out.Bytes(), nil
}

func strictServerShape(b []byte, out any) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	for _, f := range serverFields {
		if _, ok := m[f]; ok {
			return fmt.Errorf("field %q is set by the server; remove it", f)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(out)
}

// secretString holds a secret value read from a file or the environment;
// it never prints.
type secretString struct{ v string }

func (secretString) String() string               { return "[redacted]" }
func (secretString) GoString() string             { return "[redacted]" }
func (secretString) MarshalJSON() ([]byte, error) { return []byte(`"[redacted]"`), nil }

// Error is a validation error of a configuration: the file, the path of the
// offending value in the document (e.g. tenants[0].applications[2].appRoles[0].value)
// and what is wrong with what to do.
type Error struct {
	File string
	Path string
	Msg  string
}

func (e *Error) Error() string {
	switch {
	case e.File == "" && e.Path == "":
		return e.Msg
	case e.Path == "":
		return e.File + ": " + e.Msg
	}
	return e.File + ": " + e.Path + ": " + e.Msg
}

// Files returns the configuration files that paths name: a file as given,
// a directory's *.yaml, *.yml and *.json files in name order (not
// recursive).
func Files(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("-f %s: no such file or directory; give a configuration file or a directory of them (paths are relative to the current directory)", p)
		}
		if err != nil {
			return nil, fmt.Errorf("-f %s: %w", p, err)
		}
		if !st.IsDir() {
			out = append(out, p)
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			return nil, fmt.Errorf("-f %s: %w", p, err)
		}
		var names []string
		for _, e := range entries {
			if e.IsDir() {
				continue
			}
			switch strings.ToLower(filepath.Ext(e.Name())) {
			case ".yaml", ".yml", ".json":
				names = append(names, e.Name())
			}
		}
		sort.Strings(names)
		if len(names) == 0 {
			return nil, fmt.Errorf("-f %s: the directory has no .yaml, .yml or .json file", p)
		}
		for _, n := range names {
			out = append(out, filepath.Join(p, n))
		}
	}
	return out, nil
}

// Env looks up an environment variable (os.LookupEnv in production).
type Env func(name string) (string, bool)

// Load reads the configuration files paths names (see Files), merges them
// into one Document, validates it and reads every file and environment
// variable it references. It returns every validation error it finds
// (joined), each an *Error, and then no Document.
func Load(paths []string, env Env) (*Document, error) {
	files, err := Files(paths)
	if err != nil {
		return nil, err
	}
	if env == nil {
		env = os.LookupEnv
	}
	merged := &Document{}
	var errs []error
	for _, f := range files {
		data, err := readLimited(f)
		if err != nil {
			errs = append(errs, &Error{File: f, Msg: err.Error()})
			continue
		}
		doc, err := Parse(data)
		if err != nil {
			errs = append(errs, &Error{File: f, Msg: err.Error()})
			continue
		}
		v := validator{file: f, dir: filepath.Dir(f), env: env}
		v.document(doc)
		errs = append(errs, v.errs...)
		merged.Tenants = append(merged.Tenants, doc.Tenants...)
		merged.Vaults = append(merged.Vaults, doc.Vaults...)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	out, err := merge(merged)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Parse decodes one YAML or JSON document strictly: an unknown field is an
// error. It checks the shape only; Load validates values and references.
func Parse(data []byte) (*Document, error) {
	// ToJSON (YAMLToJSONStrict) reads the first document of a stream and drops the rest
	// without a word; a configuration silently cut short must not be
	// applied (least of all with --prune).
	if n, err := countDocuments(data); err == nil && n > 1 {
		return nil, fmt.Errorf("the file holds %d YAML documents (separated by ---); apply reads one per file: put each in its own file and apply the directory", n)
	}
	js, err := ToJSON(data)
	if err != nil {
		return nil, err
	}
	doc := &Document{}
	if bytes.Equal(bytes.TrimSpace(js), []byte("null")) {
		return doc, nil
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(doc); err != nil {
		return nil, fmt.Errorf("%s (the format is described in docs/apply.md)", ShapeError(err))
	}
	for i := range doc.Tenants {
		for j := range doc.Tenants[i].Applications {
			for k := range doc.Tenants[i].Applications[j].FederatedIdentityCredentials {
				f := &doc.Tenants[i].Applications[j].FederatedIdentityCredentials[k]
				f.Keys = restoreJWKMemberNames(f.Keys)
			}
		}
	}
	return doc, nil
}

// restoreJWKMemberNames undoes what YAML 1.1 does to a JWK Set written in
// YAML: a bare member name y (an EC key's y coordinate) or n (an RSA key's
// modulus) is read as the boolean true or false, and reaches JSON as the
// member "true" or "false". No JWK parameter has those names, so in each
// key object of the set "true" becomes "y" and "false" becomes "n" when
// those are absent. Anything else is returned as it came.
func restoreJWKMemberNames(set json.RawMessage) json.RawMessage {
	if !bytes.Contains(set, []byte(`"true"`)) && !bytes.Contains(set, []byte(`"false"`)) {
		return set
	}
	var doc map[string]json.RawMessage
	if json.Unmarshal(set, &doc) != nil {
		return set
	}
	var keys []map[string]json.RawMessage
	if json.Unmarshal(doc["keys"], &keys) != nil {
		return set
	}
	changed := false
	for _, k := range keys {
		for from, to := range map[string]string{"true": "y", "false": "n"} {
			if v, ok := k[from]; ok {
				if _, taken := k[to]; !taken {
					k[to] = v
					delete(k, from)
					changed = true
				}
			}
		}
	}
	if !changed {
		return set
	}
	b, err := json.Marshal(keys)
	if err != nil {
		return set
	}
	doc["keys"] = b
	out, err := json.Marshal(doc)
	if err != nil {
		return set
	}
	return out
}

// countDocuments counts the non-empty documents of a YAML stream.
func countDocuments(data []byte) (int, error) {
	dec := yamlv2.NewDecoder(bytes.NewReader(data))
	n := 0
	for {
		var v any
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		if v != nil {
			n++
		}
	}
}

// readLimited reads a file of at most maxFileBytes. It reads to the end
// rather than trusting the size a stat reports, which is 0 for a pipe
// (e.g. -f <(portcullis export)).
func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s is a directory, not a file", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes, the most apply reads", path, maxFileBytes)
	}
	return data, nil
}

// merge joins tenants and vaults of the same name (from several files) and
// refuses an object named twice.
func merge(in *Document) (*Document, error) {
	var errs []error
	out := &Document{}
	tenants := map[string]int{}
	for _, t := range in.Tenants {
		i, ok := tenants[strings.ToLower(t.Name)]
		if !ok {
			tenants[strings.ToLower(t.Name)] = len(out.Tenants)
			out.Tenants = append(out.Tenants, t)
			continue
		}
		o := &out.Tenants[i]
		o.Applications = append(o.Applications, t.Applications...)
		o.Grants = append(o.Grants, t.Grants...)
		o.APIs = append(o.APIs, t.APIs...)
		o.Connectors = append(o.Connectors, t.Connectors...)
	}
	vaults := map[string]int{}
	for _, v := range in.Vaults {
		i, ok := vaults[strings.ToLower(v.Name)]
		if !ok {
			vaults[strings.ToLower(v.Name)] = len(out.Vaults)
			out.Vaults = append(out.Vaults, v)
			continue
		}
		o := &out.Vaults[i]
		if v.SoftDeleteRetentionDays != 0 && o.SoftDeleteRetentionDays != 0 && v.SoftDeleteRetentionDays != o.SoftDeleteRetentionDays {
			errs = append(errs, fmt.Errorf("%s: vault %q is also declared at %s with another softDeleteRetentionDays; declare it once", v.at, v.Name, o.at))
		}
		if o.SoftDeleteRetentionDays == 0 {
			o.SoftDeleteRetentionDays = v.SoftDeleteRetentionDays
		}
		o.PurgeProtection = o.PurgeProtection || v.PurgeProtection
		o.RoleAssignments = append(o.RoleAssignments, v.RoleAssignments...)
		o.Secrets = append(o.Secrets, v.Secrets...)
		o.Certificates = append(o.Certificates, v.Certificates...)
		o.Keys = append(o.Keys, v.Keys...)
	}
	for _, t := range out.Tenants {
		errs = append(errs, duplicates(t.at, "application", t.Applications, func(a Application) string { return a.DisplayName }, func(a Application) string { return a.at })...)
		errs = append(errs, duplicates(t.at, "grant", t.Grants, func(g Grant) string {
			return strings.ToLower(g.Client) + " -> " + strings.ToLower(g.Resource) + ":" + g.Role
		}, nil)...)
		errs = append(errs, duplicates(t.at, "API", t.APIs, func(a API) string { return a.Name }, nil)...)
		errs = append(errs, duplicates(t.at, "connector", t.Connectors, func(c Connector) string { return c.Name }, nil)...)
	}
	for _, v := range out.Vaults {
		errs = append(errs, duplicates(v.at, "role assignment", v.RoleAssignments, func(r RoleAssignment) string { return raKey(r) }, nil)...)
		errs = append(errs, duplicates(v.at, "secret", v.Secrets, func(s Secret) string { return s.Name }, nil)...)
		errs = append(errs, duplicates(v.at, "certificate", v.Certificates, func(c Certificate) string { return c.Name }, nil)...)
		errs = append(errs, duplicates(v.at, "key", v.Keys, func(k Key) string { return k.Name }, nil)...)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func raKey(r RoleAssignment) string {
	tenant := r.Tenant
	if tenant == "" {
		tenant = directory.DefaultTenantName
	}
	return strings.ToLower(tenant) + "/" + strings.ToLower(r.Principal) + " " + strings.ToLower(r.Role) + " " + strings.ToLower(scopeOrVault(r.Scope))
}

func scopeOrVault(s string) string {
	if s == "" || s == "/" {
		return "(vault)"
	}
	return strings.Trim(s, "/")
}

// duplicates refuses items of the same key. where, if not nil, says where
// the document declares an item, so that the error names both places.
func duplicates[T any](at, kind string, items []T, key func(T) string, where func(T) string) []error {
	seen := map[string]T{}
	var errs []error
	for _, it := range items {
		k := strings.ToLower(key(it))
		first, dup := seen[k]
		switch {
		case !dup:
			seen[k] = it
		case where != nil && where(it) != "" && where(first) != "":
			errs = append(errs, fmt.Errorf("%s: %s %q is also declared at %s; declare it once", where(it), kind, key(it), where(first)))
		default:
			errs = append(errs, fmt.Errorf("%s: %s %q is declared twice (maybe in two files); declare it once", at, kind, key(it)))
		}
	}
	return errs
}

// sortedCopy returns s sorted, for order-insensitive comparison.
func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.SortFunc(c, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) })
	return c
}

// MarshalYAML writes doc as YAML with the fields in the order of the JSON
// form (name first), which sigs.k8s.io/yaml would sort alphabetically.
func MarshalYAML(doc *Document) ([]byte, error) {
	js, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	var ordered yamlv2.MapSlice
	if err := yamlv2.Unmarshal(js, &ordered); err != nil {
		return nil, err
	}
	return yamlv2.Marshal(ordered)
}
