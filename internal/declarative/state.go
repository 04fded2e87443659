package declarative

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strings"

	"github.com/portcullis/portcullis/internal/adminclient"
	"github.com/portcullis/portcullis/internal/vaultclient"
)

// Admin is the part of the admin API client (*adminclient.Client) that
// reading and applying a configuration uses.
type Admin interface {
	ListTenants(ctx context.Context) ([]adminclient.Tenant, error)
	CreateTenant(ctx context.Context, name string) (adminclient.Tenant, error)
	DeleteTenant(ctx context.Context, tenant string) error
	ListApplications(ctx context.Context, tenant string) ([]adminclient.Application, error)
	CreateApplication(ctx context.Context, tenant string, app adminclient.NewApplication) (adminclient.Application, error)
	UpdateApplication(ctx context.Context, tenant, app string, u adminclient.ApplicationUpdate) (adminclient.Application, error)
	DeleteApplication(ctx context.Context, tenant, app string) error
	AddAppRole(ctx context.Context, tenant, app string, role adminclient.NewAppRole) (adminclient.AppRole, error)
	RemoveAppRole(ctx context.Context, tenant, app, role string) error
	AddSecret(ctx context.Context, tenant, app string, s adminclient.NewSecret) (adminclient.PasswordCredential, error)
	RemoveSecret(ctx context.Context, tenant, app, id string) error
	AddCertificate(ctx context.Context, tenant, app string, cert adminclient.NewCertificate) (adminclient.KeyCredential, error)
	RemoveCertificate(ctx context.Context, tenant, app, idOrThumbprint string) error
	AddFederatedCredential(ctx context.Context, tenant, app string, fc adminclient.FederatedIdentityCredential) (adminclient.FederatedIdentityCredential, error)
	RemoveFederatedCredential(ctx context.Context, tenant, app, idOrName string) error
	ListGrants(ctx context.Context, tenant string) ([]adminclient.Grant, error)
	AddGrant(ctx context.Context, tenant string, g adminclient.NewGrant) (adminclient.Grant, error)
	RemoveGrant(ctx context.Context, tenant, id string) error
	ListAPIs(ctx context.Context, tenant string) ([]adminclient.API, error)
	CreateAPI(ctx context.Context, tenant string, api adminclient.API) (adminclient.API, error)
	UpdateAPI(ctx context.Context, tenant string, api adminclient.API, ifRevision int64) (adminclient.API, error)
	DeleteAPI(ctx context.Context, tenant, name string) error
	ListConnectors(ctx context.Context, tenant string) ([]adminclient.Connector, error)
	CreateConnector(ctx context.Context, tenant string, conn adminclient.Connector) (adminclient.Connector, error)
	UpdateConnector(ctx context.Context, tenant string, conn adminclient.Connector, ifRevision int64) (adminclient.Connector, error)
	DeleteConnector(ctx context.Context, tenant, name string) error
}

// Vaults is the part of the vault client (*vaultclient.Client) that
// reading and applying a configuration uses.
type Vaults interface {
	ListVaults(ctx context.Context) ([]vaultclient.Vault, error)
	CreateVault(ctx context.Context, v vaultclient.NewVault) (vaultclient.Vault, error)
	UpdateVault(ctx context.Context, vault string, u vaultclient.VaultUpdate) (vaultclient.Vault, error)
	ListRoleAssignments(ctx context.Context, vault string) ([]vaultclient.RoleAssignment, error)
	AssignRole(ctx context.Context, vault string, a vaultclient.NewRoleAssignment) (vaultclient.RoleAssignment, error)
	RemoveRoleAssignment(ctx context.Context, vault, id string) error
	ListSecrets(ctx context.Context, vault string) ([]vaultclient.Secret, error)
	GetSecret(ctx context.Context, vault, name, version string) (vaultclient.Secret, error)
	SetSecret(ctx context.Context, vault, name string, p vaultclient.SecretSetParameters) (vaultclient.Secret, error)
	DeleteSecret(ctx context.Context, vault, name string) (vaultclient.Secret, error)
	ListCertificates(ctx context.Context, vault string) ([]vaultclient.Certificate, error)
	ImportCertificate(ctx context.Context, vault, name string, p vaultclient.CertificateImportParameters) (vaultclient.Certificate, error)
	DeleteCertificate(ctx context.Context, vault, name string) (vaultclient.Certificate, error)
	ListKeys(ctx context.Context, vault string) ([]vaultclient.Key, error)
	GetKey(ctx context.Context, vault, name, version string) (vaultclient.Key, error)
	CreateKey(ctx context.Context, vault, name string, p vaultclient.KeyCreateParameters) (vaultclient.Key, error)
	ImportKey(ctx context.Context, vault, name string, p vaultclient.KeyImportParameters) (vaultclient.Key, error)
	DeleteKey(ctx context.Context, vault, name string) (vaultclient.Key, error)
}

// State is the configuration a server holds now, as the admin API shows it.
type State struct {
	Tenants []TenantState
	// Vaults is nil when the server runs without the vault.
	Vaults []VaultState
	// VaultsAvailable says whether the server serves the vault.
	VaultsAvailable bool
}

// TenantState is one tenant with its objects.
type TenantState struct {
	Tenant       adminclient.Tenant
	Applications []adminclient.Application
	Grants       []adminclient.Grant
	APIs         []adminclient.API
	Connectors   []adminclient.Connector
}

// VaultState is one vault with its role assignments and objects.
type VaultState struct {
	Vault           vaultclient.Vault
	RoleAssignments []vaultclient.RoleAssignment
	Secrets         []SecretState
	Certificates    []CertificateState
	Keys            []KeyState
}

// SecretState is a vault secret (not one backing a certificate).
type SecretState struct {
	Name        string
	ContentType string
	// ValueSHA256 is the digest of the current value, read only for
	// secrets the desired configuration names ("" otherwise).
	ValueSHA256 string
}

// CertificateState is a vault certificate.
type CertificateState struct {
	Name string
	X5T  string
}

// KeyState is a vault key's public part.
type KeyState struct {
	Name    string
	Kty     string
	KeySize int // RSA modulus bits
	Curve   string
	Public  string // see publicPart
}

// ReadOptions narrow what Read reads.
type ReadOptions struct {
	// Tenant reads only that tenant (id or name) and no vaults; "" reads all.
	Tenant string
	// Want, when set, is the desired configuration: Read reads the current
	// values of the vault secrets it names, to compare digests.
	Want *Document
}

// Read reads the server's current configuration through the admin API (and
// the vault API when vaults is not nil).
func Read(ctx context.Context, admin Admin, vaults Vaults, opts ReadOptions) (*State, error) {
	st := &State{}
	tenants, err := admin.ListTenants(ctx)
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	found := false
	for _, t := range tenants {
		if opts.Tenant != "" && !strings.EqualFold(t.Name, opts.Tenant) && !strings.EqualFold(t.ID, opts.Tenant) {
			continue
		}
		found = true
		ts := TenantState{Tenant: t}
		if ts.Applications, err = admin.ListApplications(ctx, t.ID); err != nil {
			return nil, fmt.Errorf("list applications of tenant %s: %w", t.Name, err)
		}
		if ts.Grants, err = admin.ListGrants(ctx, t.ID); err != nil {
			return nil, fmt.Errorf("list grants of tenant %s: %w", t.Name, err)
		}
		if ts.APIs, err = admin.ListAPIs(ctx, t.ID); err != nil && !unavailable(err) {
			return nil, fmt.Errorf("list APIs of tenant %s: %w", t.Name, err)
		}
		if ts.Connectors, err = admin.ListConnectors(ctx, t.ID); err != nil && !unavailable(err) {
			return nil, fmt.Errorf("list connectors of tenant %s: %w", t.Name, err)
		}
		st.Tenants = append(st.Tenants, ts)
	}
	if opts.Tenant != "" {
		if !found {
			return nil, fmt.Errorf("tenant %q does not exist; list the tenants with 'portcullis tenant list'", opts.Tenant)
		}
		return st, nil
	}
	if vaults == nil {
		return st, nil
	}
	vs, err := vaults.ListVaults(ctx)
	if unavailable(err) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list vaults: %w", err)
	}
	st.VaultsAvailable = true
	wantValue := map[string]bool{}
	if opts.Want != nil {
		for _, v := range opts.Want.Vaults {
			for _, s := range v.Secrets {
				wantValue[strings.ToLower(v.Name+"/"+s.Name)] = true
			}
		}
	}
	for _, v := range vs {
		vst, err := readVault(ctx, vaults, v, wantValue)
		if err != nil {
			return nil, err
		}
		st.Vaults = append(st.Vaults, vst)
	}
	return st, nil
}

func readVault(ctx context.Context, vaults Vaults, v vaultclient.Vault, wantValue map[string]bool) (VaultState, error) {
	vst := VaultState{Vault: v}
	var err error
	if vst.RoleAssignments, err = vaults.ListRoleAssignments(ctx, v.Name); err != nil {
		return vst, fmt.Errorf("list role assignments of vault %s: %w", v.Name, err)
	}
	secrets, err := vaults.ListSecrets(ctx, v.Name)
	if err != nil {
		return vst, fmt.Errorf("list secrets of vault %s: %w", v.Name, err)
	}
	for _, s := range secrets {
		if s.Managed {
			continue // the secret of a certificate
		}
		_, name, _, _ := vaultclient.ParseID(s.ID)
		ss := SecretState{Name: name, ContentType: s.ContentType}
		if wantValue[strings.ToLower(v.Name+"/"+name)] {
			full, err := vaults.GetSecret(ctx, v.Name, name, "")
			if err != nil {
				return vst, fmt.Errorf("read secret %s of vault %s to compare it: %w", name, v.Name, err)
			}
			ss.ValueSHA256 = digest(full.Value)
		}
		vst.Secrets = append(vst.Secrets, ss)
	}
	certs, err := vaults.ListCertificates(ctx, v.Name)
	if err != nil {
		return vst, fmt.Errorf("list certificates of vault %s: %w", v.Name, err)
	}
	for _, c := range certs {
		_, name, _, _ := vaultclient.ParseID(c.ID)
		vst.Certificates = append(vst.Certificates, CertificateState{Name: name, X5T: c.X5T})
	}
	keys, err := vaults.ListKeys(ctx, v.Name)
	if err != nil {
		return vst, fmt.Errorf("list keys of vault %s: %w", v.Name, err)
	}
	for _, k := range keys {
		_, name, _, _ := vaultclient.ParseID(k.ID())
		if k.Managed {
			continue // the key of a certificate
		}
		full, err := vaults.GetKey(ctx, v.Name, name, "")
		if err != nil {
			return vst, fmt.Errorf("read key %s of vault %s: %w", name, v.Name, err)
		}
		ks := KeyState{Name: name}
		if full.Key != nil {
			ks.Kty, ks.Curve, ks.Public = full.Key.Kty, full.Key.Crv, publicPart(*full.Key)
			ks.KeySize = modulusBits(full.Key.N)
		}
		vst.Keys = append(vst.Keys, ks)
	}
	return vst, nil
}

func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return fmt.Sprintf("%x", sum)
}

// modulusBits is the size of an RSA modulus given in unpadded base64url.
func modulusBits(n string) int {
	b, err := base64.RawURLEncoding.DecodeString(n)
	if err != nil || len(b) == 0 {
		return 0
	}
	return new(big.Int).SetBytes(b).BitLen()
}

// unavailable says whether err is the admin API's 503 for a part of the
// server that is off (the vault, the gateway).
func unavailable(err error) bool {
	var ae *adminclient.APIError
	if errors.As(err, &ae) && ae.Status == http.StatusServiceUnavailable {
		return true
	}
	var ve *vaultclient.Error
	return errors.As(err, &ve) && ve.Status == http.StatusServiceUnavailable
}
