package vault

import (
	"context"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/portcullis/portcullis/internal/store"
)

// ProviderPortcullis is the one issuer provider Portcullis serves: a CA
// kept in the vault itself (its certificate a vault certificate, its
// private key a non-exportable vault key that never leaves).
const ProviderPortcullis = "Portcullis"

// Issuer is a certificate issuer of a vault (Key Vault's IssuerBundle).
// It holds no secret: Portcullis refuses issuer passwords (no provider it
// serves needs one).
type Issuer struct {
	Vault    string
	Name     string
	Provider string
	// AccountID is credentials.account_id; for provider Portcullis it names
	// the CA certificate of the vault that signs ("" = the issuer's name).
	AccountID    string
	Organization *OrganizationDetails
	Enabled      bool
	Created      time.Time
	Updated      time.Time
}

// CACertificate is the name of the vault certificate that signs for the issuer.
func (is Issuer) CACertificate() string {
	if is.AccountID != "" {
		return is.AccountID
	}
	return is.Name
}

// OrganizationDetails are Key Vault's org_details of an issuer.
type OrganizationDetails struct {
	ID           string                 `json:"id,omitempty"`
	AdminDetails []AdministratorDetails `json:"admin_details,omitempty"`
}

// AdministratorDetails are one administrator of an issuer's organization.
type AdministratorDetails struct {
	FirstName string `json:"first_name,omitempty"`
	LastName  string `json:"last_name,omitempty"`
	Email     string `json:"email,omitempty"`
	Phone     string `json:"phone,omitempty"`
}

// IssuerInput is the body of SetIssuer (PUT: absent members take their
// defaults) and UpdateIssuer (PATCH: absent members keep their value).
type IssuerInput struct {
	Provider     *string
	AccountID    *string
	Password     *Value
	Organization *OrganizationDetails
	Enabled      *bool
}

// issuerRecord is an issuer as stored (Setting.Body).
type issuerRecord struct {
	Provider     string               `json:"provider"`
	AccountID    string               `json:"account_id,omitempty"`
	Organization *OrganizationDetails `json:"org_details,omitempty"`
	Enabled      bool                 `json:"enabled"`
}

// knownProviders are Key Vault's issuer providers, named in refusals.
var knownProviders = []string{"DigiCert", "GlobalSign", "OneCertV2-PublicCA", "OneCertV2-PrivateCA"}

// Limits on issuer bodies: Key Vault's own are undocumented; these keep
// a stored issuer small.
const (
	maxIssuerAdmins    = 16
	maxIssuerFieldSize = 256
)

func (in IssuerInput) validate() error {
	if in.Password != nil && in.Password.Len() > 0 {
		return badRequest("credentials.pwd is not accepted: provider %q signs with a CA kept in this vault and needs no password, and Portcullis cannot reach the providers that do (%s)", ProviderPortcullis, strings.Join(knownProviders, ", "))
	}
	if in.Provider != nil {
		p := *in.Provider
		switch {
		case strings.EqualFold(p, ProviderPortcullis):
		case p == "":
			return badRequest("provider is required: the one provider Portcullis serves is %q (a CA kept in this vault, made with `portcullis ca create`)", ProviderPortcullis)
		default:
			return badRequest("provider %q is not supported: Portcullis cannot reach public or external CAs (%s); the one provider it serves is %q, a CA kept in this vault (`portcullis ca create`). To use a certificate from another CA, import it with its key", clipText(p, 64), strings.Join(knownProviders, ", "), ProviderPortcullis)
		}
	}
	if in.AccountID != nil && *in.AccountID != "" {
		if err := ValidateName(*in.AccountID); err != nil {
			return badRequest("credentials.account_id names the CA certificate of this vault that signs for the issuer: %v", err)
		}
	}
	if o := in.Organization; o != nil {
		if len(o.AdminDetails) > maxIssuerAdmins {
			return badRequest("org_details.admin_details has %d entries: at most %d are kept", len(o.AdminDetails), maxIssuerAdmins)
		}
		fields := []string{o.ID}
		for _, a := range o.AdminDetails {
			fields = append(fields, a.FirstName, a.LastName, a.Email, a.Phone)
		}
		for _, f := range fields {
			if len(f) > maxIssuerFieldSize {
				return badRequest("org_details: a value is longer than %d bytes", maxIssuerFieldSize)
			}
		}
	}
	return nil
}

// clipText shortens s for an error message.
func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func issuerNotFound(name string) *Error {
	return &Error{Kind: KindNotFound, Code: CodeNotFound, Message: fmt.Sprintf("Issuer not found: %s. Create it with SetIssuer (PUT /certificates/issuers/%s) or `portcullis ca create`.", name, name)}
}

func validateIssuerName(name string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	if strings.EqualFold(name, IssuerSelf) || strings.EqualFold(name, IssuerUnknown) {
		return badRequest("issuer name %q is reserved: %q means self-signed and %q a certificate signed outside the vault (CSR and merge)", name, IssuerSelf, IssuerUnknown)
	}
	return nil
}

func issuerOf(st Setting) (Issuer, error) {
	var r issuerRecord
	if err := json.Unmarshal(st.Body, &r); err != nil {
		return Issuer{}, internal(err, "decode issuer %q", st.Name)
	}
	return Issuer{Vault: st.Vault, Name: st.Name, Provider: r.Provider, AccountID: r.AccountID, Organization: r.Organization, Enabled: r.Enabled, Created: st.Created, Updated: st.Updated}, nil
}

func (is Issuer) record() []byte {
	b, _ := json.Marshal(issuerRecord{Provider: is.Provider, AccountID: is.AccountID, Organization: is.Organization, Enabled: is.Enabled}) // plain data: cannot fail
	return b
}

// onIssuer runs fn for an issuer operation authorised at vault level.
func onIssuer[T any](s *Service, ctx context.Context, c Caller, vault, name string, perm Permission, fn func(v Vault) (T, error)) (out T, err error) {
	o := s.begin(ctx, c, vault, "", name, "", perm)
	defer o.end(&err)
	if name != "" {
		if err := validateIssuerName(name); err != nil {
			return out, err
		}
	}
	v, err := o.authorize("", false)
	if err != nil {
		return out, err
	}
	return fn(v)
}

// SetIssuer creates or replaces a certificate issuer. Provider Portcullis
// needs the CA certificate (credentials.account_id, else the issuer's name)
// to be a live CA of the vault with a non-exportable key.
func (s *Service) SetIssuer(ctx context.Context, c Caller, vault, name string, in IssuerInput) (Issuer, error) {
	return onIssuer(s, ctx, c, vault, name, PermIssuersWrite, func(v Vault) (Issuer, error) {
		if in.Provider == nil {
			in.Provider = new(string)
		}
		if err := in.validate(); err != nil {
			return Issuer{}, err
		}
		is := Issuer{Vault: v.Name, Name: name, Provider: ProviderPortcullis, Enabled: in.Enabled == nil || *in.Enabled, Organization: in.Organization}
		if in.AccountID != nil {
			is.AccountID = *in.AccountID
		}
		return s.storeIssuer(ctx, v, is, func(st Setting) (Setting, error) { return s.store.PutSetting(ctx, st) })
	})
}

// UpdateIssuer changes the members of an issuer given in in.
func (s *Service) UpdateIssuer(ctx context.Context, c Caller, vault, name string, in IssuerInput) (Issuer, error) {
	return onIssuer(s, ctx, c, vault, name, PermIssuersWrite, func(v Vault) (Issuer, error) {
		if err := in.validate(); err != nil {
			return Issuer{}, err
		}
		// The CA is checked before the transaction (a store call inside
		// mutate would re-enter the store); mutate only re-applies in to the
		// issuer as it is then, and refuses if its CA changed meanwhile.
		cur, err := s.issuer(ctx, v, name)
		if err != nil {
			return Issuer{}, err
		}
		checked := in.applyTo(cur).CACertificate()
		if err := s.checkCA(ctx, v, checked); err != nil {
			return Issuer{}, err
		}
		var is Issuer
		now := s.now().UTC()
		st, err := s.store.UpdateSetting(ctx, v.Name, SettingIssuers, name, func(st *Setting) error {
			cur, err := issuerOf(*st)
			if err != nil {
				return err
			}
			is = in.applyTo(cur)
			if !strings.EqualFold(is.CACertificate(), checked) {
				return conflict("", "issuer %s was changed by another request while this one was checked; send the update again", name)
			}
			st.Body, st.Updated = is.record(), now
			return nil
		})
		if errors.Is(err, store.ErrNotFound) {
			return Issuer{}, issuerNotFound(name)
		}
		if err != nil {
			return Issuer{}, wrapStoreErr(err, "update issuer %q", name)
		}
		is.Vault, is.Name, is.Created, is.Updated = st.Vault, st.Name, st.Created, st.Updated
		return is, nil
	})
}

// applyTo returns is with the members given in in changed.
func (in IssuerInput) applyTo(is Issuer) Issuer {
	if in.Provider != nil {
		is.Provider = ProviderPortcullis
	}
	if in.AccountID != nil {
		is.AccountID = *in.AccountID
	}
	if in.Organization != nil {
		is.Organization = in.Organization
	}
	if in.Enabled != nil {
		is.Enabled = *in.Enabled
	}
	return is
}

func (s *Service) storeIssuer(ctx context.Context, v Vault, is Issuer, put func(Setting) (Setting, error)) (Issuer, error) {
	if err := s.checkCA(ctx, v, is.CACertificate()); err != nil {
		return Issuer{}, err
	}
	now := s.now().UTC()
	st, err := put(Setting{Vault: v.Name, Kind: SettingIssuers, Name: is.Name, Body: is.record(), Created: now, Updated: now})
	if err != nil {
		return Issuer{}, wrapStoreErr(err, "store issuer %q", is.Name)
	}
	return issuerOf(st)
}

// GetIssuer returns a certificate issuer.
func (s *Service) GetIssuer(ctx context.Context, c Caller, vault, name string) (Issuer, error) {
	return onIssuer(s, ctx, c, vault, name, PermIssuersRead, func(v Vault) (Issuer, error) {
		return s.issuer(ctx, v, name)
	})
}

func (s *Service) issuer(ctx context.Context, v Vault, name string) (Issuer, error) {
	st, err := s.store.GetSetting(ctx, v.Name, SettingIssuers, name)
	if errors.Is(err, store.ErrNotFound) {
		return Issuer{}, issuerNotFound(name)
	}
	if err != nil {
		return Issuer{}, internal(err, "read issuer %q", name)
	}
	return issuerOf(st)
}

// DeleteIssuer removes a certificate issuer and returns it; certificates
// whose policy names it can no longer be issued or renewed until an issuer
// of that name exists again.
func (s *Service) DeleteIssuer(ctx context.Context, c Caller, vault, name string) (Issuer, error) {
	return onIssuer(s, ctx, c, vault, name, PermIssuersDelete, func(v Vault) (Issuer, error) {
		st, err := s.store.DeleteSetting(ctx, v.Name, SettingIssuers, name)
		if errors.Is(err, store.ErrNotFound) {
			return Issuer{}, issuerNotFound(name)
		}
		if err != nil {
			return Issuer{}, internal(err, "delete issuer %q", name)
		}
		return issuerOf(st)
	})
}

// ListIssuers lists a vault's certificate issuers by name, a page at a time.
func (s *Service) ListIssuers(ctx context.Context, c Caller, vault string, p PageRequest) (Page[Issuer], error) {
	return onIssuer(s, ctx, c, vault, "", PermIssuersRead, func(v Vault) (Page[Issuer], error) {
		size, err := p.size()
		if err != nil {
			return Page[Issuer]{}, err
		}
		sts, err := s.store.ListSettings(ctx, v.Name, SettingIssuers)
		if err != nil {
			return Page[Issuer]{}, internal(err, "list issuers")
		}
		var out Page[Issuer]
		for _, st := range sts {
			if p.After != "" && foldName(st.Name) <= foldName(p.After) {
				continue
			}
			if len(out.Items) == size {
				out.Next = out.Items[size-1].Name
				break
			}
			is, err := issuerOf(st)
			if err != nil {
				return Page[Issuer]{}, err
			}
			out.Items = append(out.Items, is)
		}
		return out, nil
	})
}

// checkCA verifies that certificate name of vault v can sign for an issuer
// of provider Portcullis: live, enabled, a CA (basic constraints CA and
// keyCertSign), valid now, its key not exportable.
func (s *Service) checkCA(ctx context.Context, v Vault, name string) error {
	_, _, err := s.caOf(ctx, v, name)
	return err
}

// caOf returns a vault CA's newest version and its certificate.
func (s *Service) caOf(ctx context.Context, v Vault, name string) (ObjectVersion, *x509.Certificate, error) {
	howTo := fmt.Sprintf("make one with `portcullis ca create %s` (a certificate whose policy has key_usage keyCertSign and key_props.exportable false)", name)
	obj, ver, err := s.store.GetObjectVersion(ctx, v.Name, Certificates, name, "")
	if errors.Is(err, store.ErrNotFound) || err == nil && obj.Deleted != nil {
		return ObjectVersion{}, nil, badRequest("the CA certificate %q does not exist in vault %s: %s", name, v.Name, howTo)
	}
	if err != nil {
		return ObjectVersion{}, nil, internal(err, "read CA certificate %q", name)
	}
	cert, err := x509.ParseCertificate(ver.Public)
	if err != nil {
		return ObjectVersion{}, nil, internal(err, "parse CA certificate %q", name)
	}
	meta, err := decodeCertMeta(ver)
	if err != nil {
		return ObjectVersion{}, nil, err
	}
	now := s.now()
	switch {
	case !cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign == 0:
		return ObjectVersion{}, nil, badRequest("certificate %q is not a CA (it lacks basic constraints CA:TRUE with key usage keyCertSign): %s", name, howTo)
	case meta.Exportable:
		return ObjectVersion{}, nil, badRequest("the private key of CA certificate %q is exportable: a CA's key must never leave the vault; %s", name, howTo)
	case !ver.Enabled:
		return ObjectVersion{}, nil, badRequest("the newest version of CA certificate %q is disabled: enable it or create a new version", name)
	case now.Before(cert.NotBefore) || now.After(cert.NotAfter):
		return ObjectVersion{}, nil, badRequest("CA certificate %q is not valid now (valid %s to %s): renew it with `portcullis certificate create %s`", name, cert.NotBefore.UTC().Format(time.RFC3339), cert.NotAfter.UTC().Format(time.RFC3339), name)
	}
	return ver, cert, nil
}

// vaultCA is a vault CA ready to sign: its certificate, the chain to
// return with what it signs (its certificate first), and its key.
type vaultCA struct {
	cert  *x509.Certificate
	chain []*x509.Certificate
	key   crypto.Signer
}

// loadCA returns the CA behind the issuer a policy names.
func (s *Service) loadCA(ctx context.Context, v Vault, issuerName string) (*vaultCA, error) {
	is, err := s.issuer(ctx, v, issuerName)
	if IsKind(err, KindNotFound) {
		return nil, badRequest("the policy's issuer %q does not exist in vault %s: create it with SetIssuer (provider %q) or `portcullis ca create %s`, or use issuer %q for a self-signed certificate", issuerName, v.Name, ProviderPortcullis, issuerName, IssuerSelf)
	}
	if err != nil {
		return nil, err
	}
	if !is.Enabled {
		return nil, badRequest("issuer %q is disabled: enable it (UpdateIssuer with attributes.enabled true) to issue certificates from it", is.Name)
	}
	ver, _, err := s.caOf(ctx, v, is.CACertificate())
	if err != nil {
		return nil, err
	}
	leaf, chain, key, _, err := s.certificateParts(ver)
	if err != nil {
		return nil, err
	}
	return &vaultCA{cert: leaf, chain: append([]*x509.Certificate{leaf}, chain...), key: key}, nil
}

// sign issues a certificate for key as the policy's X.509 properties
// describe it, its validity cut at the CA's own expiry (a certificate
// must not outlive its issuer), and the CSR Key Vault reports.
func (ca *vaultCA) sign(subject pkix.Name, key crypto.Signer, xp *X509Properties, now time.Time) (*x509.Certificate, []byte, error) {
	tmpl, csrTmpl, err := certificateTemplate(subject, key, xp, now)
	if err != nil {
		return nil, nil, err
	}
	if tmpl.NotAfter.After(ca.cert.NotAfter) {
		tmpl.NotAfter = ca.cert.NotAfter
	}
	return signTemplate(tmpl, ca.cert, csrTmpl, key, ca.key)
}
