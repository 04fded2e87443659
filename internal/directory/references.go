package directory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/portcullis/portcullis/internal/outbound"
	"github.com/portcullis/portcullis/internal/store"
)

// VaultReferences records which directory objects use which vault objects,
// so that the vault refuses to delete or purge an object in use (with a 409
// naming the referrers). It is the vault seen from the directory, which
// cannot import it; the admin API passes an adapter over vault.Service.
type VaultReferences interface {
	// AddReference records that referrer, an object of the tenant
	// tenantID, uses the object ref names (vault://VAULT/TYPE/NAME[/VERSION]);
	// recording it again is a no-op. It refuses a reference to a vault,
	// object or version that does not exist with an *Error of kind
	// NotFound (Invalid for a malformed one or a vault of another tenant,
	// Conflict for a deleted object) whose message names the reference;
	// any other error is an internal one.
	AddReference(ctx context.Context, tenantID, ref, referrer string) error
	// RemoveReference deletes what AddReference recorded; an absent
	// reference is not an error.
	RemoveReference(ctx context.Context, ref, referrer string) error
}

// VaultReference is one vault reference of a directory object with the
// JSON path of the field that holds it.
type VaultReference struct {
	Field string
	Ref   string
}

// ConnectorReferrer is the name under which a connector's vault references
// are recorded: "connector/TENANT/NAME" (the tenant's name).
func ConnectorReferrer(tenantName, name string) string {
	return "connector/" + tenantName + "/" + name
}

// APIReferrer is the name under which a gateway API's vault references are
// recorded: "gateway/TENANT/API" (the tenant's name).
func APIReferrer(tenantName, name string) string {
	return "gateway/" + tenantName + "/" + name
}

// CredentialReferences returns the vault references of an outbound
// credential whose JSON path is path.
func CredentialReferences(path string, c outbound.CredentialSpec) []VaultReference {
	var out []VaultReference
	add := func(f, ref string) {
		if ref != "" {
			out = append(out, VaultReference{Field: path + "." + f, Ref: ref})
		}
	}
	add("password", c.Password)
	add("key", c.Key)
	add("token", c.Token)
	add("certificate", c.Certificate)
	if cc := c.ClientCredentials; cc != nil {
		add("clientCredentials.clientSecret", cc.ClientSecret)
		add("clientCredentials.clientCertificate", cc.ClientCertificate)
	}
	return out
}

// TLSReferences returns the vault references among the CAs of an outbound
// TLS setting whose JSON path is path.
func TLSReferences(path string, t *outbound.TLSSpec) []VaultReference {
	if t == nil {
		return nil
	}
	return caReferences(path+".caCertificates", t.CACertificates)
}

func caReferences(path string, cas []string) []VaultReference {
	var out []VaultReference
	for i, ca := range cas {
		if strings.HasPrefix(ca, "vault://") {
			out = append(out, VaultReference{Field: path + "[" + strconv.Itoa(i) + "]", Ref: ca})
		}
	}
	return out
}

// ConnectorReferences returns every vault reference of a connector.
func ConnectorReferences(c Connector) []VaultReference {
	return append(CredentialReferences("authentication", c.Authentication), TLSReferences("tls", c.TLS)...)
}

// APIReferences returns every vault reference of a gateway API: the
// secrets of its policy's Basic users and API keys, its trusted client CAs,
// its backend's CAs and its backend credential's secrets and certificate.
func APIReferences(api API) []VaultReference {
	var out []VaultReference
	for i, m := range api.Policy.Methods {
		at := fmt.Sprintf("policy.methods[%d]", i)
		for j, u := range m.Users {
			out = append(out, VaultReference{Field: fmt.Sprintf("%s.users[%d].password", at, j), Ref: u.Password})
		}
		for j, k := range m.Keys {
			out = append(out, VaultReference{Field: fmt.Sprintf("%s.keys[%d].secret", at, j), Ref: k.Secret})
		}
		out = append(out, caReferences(at+".trustedCAs", m.TrustedCAs)...)
		if m.Revocation != nil {
			// caReferences keeps the vault:// entries: PEM text and URLs are not references.
			out = append(out, caReferences(at+".revocation.crls", m.Revocation.CRLs)...)
		}
	}
	out = append(out, TLSReferences("backend.tls", api.Backend.TLS.Spec())...)
	if c := api.Backend.Credential; c != nil {
		out = append(out, CredentialReferences("backend.credential", *c)...)
	}
	return out
}

// WithVaultReferences returns a Service that records the vault references
// of connectors and APIs in refs as it writes them; without it (refs nil)
// references are only checked for their form.
//
// The directory and the vault references are written in separate
// transactions (the vault owns its tables), ordered so that a failure
// never leaves a vault object deletable while a stored object uses it: a
// write first records every reference of the new version (refusing one to
// a missing object before anything is written), then writes the directory,
// then, whether the write succeeded or not, releases the candidates that
// the object as now stored no longer uses. A failure between the steps
// leaves at worst a stale reference (the vault object cannot be deleted
// until the referrer is written or deleted again), never a missing one.
func (s *Service) WithVaultReferences(refs VaultReferences) *Service {
	c := *s
	c.refs = refs
	return &c
}

// addReferences records refs for referrer, refusing the first one the
// vault does not hold with an error naming its field.
func (s *Service) addReferences(ctx context.Context, tenantID, referrer string, refs []VaultReference) error {
	if s.refs == nil {
		return nil
	}
	for _, r := range refs {
		if err := s.refs.AddReference(ctx, tenantID, r.Ref, referrer); err != nil {
			var e *Error
			if errors.As(err, &e) {
				k := e.Kind
				return newError(k, "field %q: %s: %v", r.Field, r.Ref, err)
			}
			return fmt.Errorf("record vault reference of %s: %w", referrer, err)
		}
	}
	return nil
}

// releaseReferences removes the references among candidates that the
// object as now stored (current, from a fresh read) no longer holds. A
// failure is returned for the caller to report; it leaves a stale
// reference, never a missing one.
func (s *Service) releaseReferences(ctx context.Context, referrer string, candidates, current []VaultReference) error {
	if s.refs == nil {
		return nil
	}
	keep := make([]string, len(current))
	for i, r := range current {
		keep[i] = r.Ref
	}
	var errs []error
	done := map[string]bool{}
	for _, r := range candidates {
		if slices.Contains(keep, r.Ref) || done[r.Ref] {
			continue
		}
		done[r.Ref] = true
		if err := s.refs.RemoveReference(ctx, r.Ref, referrer); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// settleConnectorReferences releases, after a write of the connector named
// name (done or failed), the candidates that its stored version no longer
// uses.
func (s *Service) settleConnectorReferences(ctx context.Context, t Tenant, name string, candidates []VaultReference) error {
	if s.refs == nil || len(candidates) == 0 {
		return nil
	}
	var current []VaultReference
	c, err := s.st.GetConnector(ctx, t.ID, name)
	switch {
	case err == nil:
		current = ConnectorReferences(c)
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	return s.releaseReferences(ctx, ConnectorReferrer(t.Name, name), candidates, current)
}

// settleAPIReferences is settleConnectorReferences for a gateway API.
func (s *Service) settleAPIReferences(ctx context.Context, t Tenant, name string, candidates []VaultReference) error {
	if s.refs == nil || len(candidates) == 0 {
		return nil
	}
	var current []VaultReference
	a, err := s.st.GetAPI(ctx, t.ID, name)
	switch {
	case err == nil:
		current = APIReferences(a)
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	return s.releaseReferences(ctx, APIReferrer(t.Name, name), candidates, current)
}

// RecordAllVaultReferences records the vault references of every gateway
// API and connector of the installation (recording one again is a no-op),
// so that objects stored before references were recorded are protected
// too. It goes past a reference the vault refuses (an object deleted
// meanwhile) and returns every such refusal, joined, for the operator.
func (s *Service) RecordAllVaultReferences(ctx context.Context) error {
	if s.refs == nil {
		return nil
	}
	tenants, err := s.st.ListTenants(ctx)
	if err != nil {
		return err
	}
	names := make(map[string]string, len(tenants))
	for _, t := range tenants {
		names[t.ID] = t.Name
	}
	apis, err := s.st.ListAllAPIs(ctx)
	if err != nil {
		return err
	}
	connectors, err := s.st.ListAllConnectors(ctx)
	if err != nil {
		return err
	}
	var errs []error
	record := func(tenantID, referrer string, refs []VaultReference) {
		for _, r := range refs {
			if err := s.addReferences(ctx, tenantID, referrer, []VaultReference{r}); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", referrer, err))
			}
		}
	}
	for _, a := range apis {
		record(a.TenantID, APIReferrer(names[a.TenantID], a.Name), APIReferences(a))
	}
	for _, c := range connectors {
		record(c.TenantID, ConnectorReferrer(names[c.TenantID], c.Name), ConnectorReferences(c))
	}
	return errors.Join(errs...)
}
