package directory

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/portcullis/portcullis/guard"
)

// FederatedIdentityCredential makes an application trust tokens that
// another issuer gives a workload (a CI system's OIDC token, a Kubernetes
// service-account token): a client assertion whose iss, sub and aud are
// exactly Issuer, Subject and one of Audiences, signed with the issuer's
// key, authenticates the application (workload identity federation, as
// Entra's federatedIdentityCredentials).
//
// The issuer's keys come from its OIDC discovery document and JWKS, or,
// for an issuer that publishes no discovery document, from JWKSURI or the
// static JWK Set Keys (at most one of the two).
type FederatedIdentityCredential struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Issuer      string   `json:"issuer"`
	Subject     string   `json:"subject"`
	Audiences   []string `json:"audiences"`
	Description string   `json:"description"`
	// JWKSURI, when set, is where the issuer's JWK Set is read instead of
	// through discovery.
	JWKSURI string `json:"jwksUri,omitempty"`
	// Keys, when set, is the issuer's JWK Set itself (a JSON document with
	// a "keys" array), for an issuer whose keys cannot be fetched.
	Keys      json.RawMessage `json:"keys,omitempty"`
	CreatedAt time.Time       `json:"createdAt"`
}

// Limits of federated identity credentials, as Entra's.
const (
	MaxFederatedIdentityCredentials = 20
	MaxFederatedNameLength          = 120
	minFederatedNameLength          = 3
	MaxFederatedValueLength         = 600 // issuer, subject, audience, jwksUri
	maxFederatedKeysBytes           = 64 << 10
	// DefaultFederatedAudience is the audience Entra and its clients use
	// for federated tokens (azidentity's WorkloadIdentityCredential, the
	// Azure workload identity webhook, GitHub's azure/login).
	DefaultFederatedAudience = "api://AzureADTokenExchange"
)

// NormalizeFederatedIdentityCredential checks c as a new credential
// (fields named as in the admin API) and returns it with defaults
// applied: audiences ["api://AzureADTokenExchange"] when none are given.
// ID and CreatedAt are left to the caller.
func NormalizeFederatedIdentityCredential(c FederatedIdentityCredential) (FederatedIdentityCredential, error) {
	c.Name = strings.TrimSpace(c.Name)
	if n := utf8.RuneCountInString(c.Name); n < minFederatedNameLength || n > MaxFederatedNameLength {
		return c, invalid("field \"name\" is %d characters long; give %d to %d letters, digits, '-' or '_' (for example \"github-main\")", n, minFederatedNameLength, MaxFederatedNameLength)
	}
	for _, r := range c.Name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return c, invalid("field \"name\" contains %q; use only letters, digits, '-' and '_'", r)
		}
	}
	if err := validateFederatedIssuer(c.Issuer); err != nil {
		return c, err
	}
	if err := checkFederatedValue("subject", c.Subject, "the sub claim of the tokens to trust, for example \"repo:contoso/orders:ref:refs/heads/main\" or \"system:serviceaccount:orders:api\""); err != nil {
		return c, err
	}
	if len(c.Audiences) == 0 {
		c.Audiences = []string{DefaultFederatedAudience}
	}
	if len(c.Audiences) != 1 {
		return c, invalid("field \"audiences\" has %d entries; give exactly one (the aud the tokens carry; default %q)", len(c.Audiences), DefaultFederatedAudience)
	}
	c.Audiences = slices.Clone(c.Audiences)
	if err := checkFederatedValue("audiences[0]", c.Audiences[0], "the aud claim of the tokens, usually "+DefaultFederatedAudience); err != nil {
		return c, err
	}
	d, err := normalizeDescription("description", c.Description)
	if err != nil {
		return c, err
	}
	c.Description = d
	if c.JWKSURI != "" && len(c.Keys) > 0 {
		return c, invalid("fields \"jwksUri\" and \"keys\" are both set; give at most one: jwksUri where the issuer's JWK Set can be fetched, keys to paste the JWK Set itself")
	}
	if c.JWKSURI != "" {
		if err := validateFetchURL("jwksUri", c.JWKSURI); err != nil {
			return c, err
		}
	}
	if len(c.Keys) > 0 {
		if len(c.Keys) > maxFederatedKeysBytes {
			return c, invalid("field \"keys\" is %d bytes; at most %d are accepted", len(c.Keys), maxFederatedKeysBytes)
		}
		if _, err := guard.NewStaticKeys(c.Issuer, c.Keys); err != nil {
			return c, invalid("field \"keys\" is not a usable JWK Set: %s; give the issuer's JWKS document, e.g. the output of `kubectl get --raw /openid/v1/jwks`", strings.TrimPrefix(strings.TrimPrefix(err.Error(), "guard: "), "not a JWK Set: "))
		}
		c.Keys = append(json.RawMessage(nil), c.Keys...)
	} else {
		c.Keys = nil
	}
	return c, nil
}

func checkFederatedValue(field, v, what string) error {
	if strings.TrimSpace(v) == "" {
		return invalid("field %q is required: %s", field, what)
	}
	if len(v) > MaxFederatedValueLength {
		return invalid("field %q is %d bytes long; at most %d are accepted", field, len(v), MaxFederatedValueLength)
	}
	if v != strings.TrimSpace(v) {
		return invalid("field %q has leading or trailing spaces; it must match the token's claim exactly", field)
	}
	return checkText(field, v)
}

// validateFederatedIssuer checks an issuer URL: compared exactly with the
// tokens' iss, and (without jwksUri or keys) the base of the discovery
// document the keys are read through.
func validateFederatedIssuer(iss string) error {
	if err := checkFederatedValue("issuer", iss, "the iss claim of the tokens to trust, for example https://token.actions.githubusercontent.com"); err != nil {
		return err
	}
	return validateFetchURL("issuer", iss)
}

// validateFetchURL accepts an absolute https URL without user info, query
// or fragment, or http on a loopback address (a development issuer on the
// same host).
func validateFetchURL(field, v string) error {
	if len(v) > MaxFederatedValueLength {
		return invalid("field %q is %d bytes long; at most %d are accepted", field, len(v), MaxFederatedValueLength)
	}
	u, err := url.Parse(v)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(v, "#") {
		return invalid("field %q %q is not an absolute https URL without user info, query or fragment", field, v)
	}
	if strings.ContainsFunc(v, unicode.IsSpace) {
		return invalid("field %q %q contains whitespace, which no URL holds; give the URL exactly as the issuer publishes it", field, v)
	}
	if err := checkURLPort(field, v, u); err != nil {
		return err
	}
	switch {
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && isLoopbackHost(u.Hostname()):
		return nil
	}
	return invalid("field %q %q must be an https URL (http is accepted only on a loopback address, for development)", field, v)
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// AddFederatedIdentityCredential adds c (checked by
// NormalizeFederatedIdentityCredential) to an application. A name the
// application uses already, the same issuer and subject twice, and more
// than MaxFederatedIdentityCredentials are refused (409).
func (s *Service) AddFederatedIdentityCredential(ctx context.Context, tenantRef, appRef string, c FederatedIdentityCredential) (FederatedIdentityCredential, error) {
	c, err := NormalizeFederatedIdentityCredential(c)
	if err != nil {
		return FederatedIdentityCredential{}, err
	}
	c.ID, c.CreatedAt = newGUID(), s.now()
	err = s.changeApplication(ctx, tenantRef, appRef, func(_ Tenant, cur *Application) error {
		for _, o := range cur.FederatedIdentityCredentials {
			if strings.EqualFold(o.Name, c.Name) {
				return conflict("application %q already has a federated identity credential named %q (id %s); choose another name or remove that one", cur.DisplayName, o.Name, o.ID)
			}
			if o.Issuer == c.Issuer && o.Subject == c.Subject {
				return conflict("application %q already trusts issuer %q with subject %q (federated identity credential %q); one credential per issuer and subject", cur.DisplayName, c.Issuer, c.Subject, o.Name)
			}
		}
		if len(cur.FederatedIdentityCredentials) >= MaxFederatedIdentityCredentials {
			return conflict("application %q has %d federated identity credentials, the maximum; remove one first", cur.DisplayName, len(cur.FederatedIdentityCredentials))
		}
		cur.FederatedIdentityCredentials = append(cur.FederatedIdentityCredentials, c)
		return nil
	}, nil)
	if err != nil {
		return FederatedIdentityCredential{}, keepErr("add federated identity credential", err)
	}
	return c, nil
}

// RemoveFederatedIdentityCredential deletes a federated identity
// credential by id or name (any case).
func (s *Service) RemoveFederatedIdentityCredential(ctx context.Context, tenantRef, appRef, ref string) error {
	err := s.changeApplication(ctx, tenantRef, appRef, func(t Tenant, cur *Application) error {
		if removeFirst(&cur.FederatedIdentityCredentials, func(c FederatedIdentityCredential) bool {
			return strings.EqualFold(c.ID, ref) || strings.EqualFold(c.Name, ref)
		}) {
			return nil
		}
		return notFound("application %q has no federated identity credential with id or name %q; list them with GET %s/tenants/%s/applications/%s/federatedIdentityCredentials",
			cur.DisplayName, ref, adminAPI, t.Name, cur.AppID)
	}, nil)
	return keepErr("delete federated identity credential", err)
}

// String names the credential for messages: name, issuer and subject.
func (c FederatedIdentityCredential) String() string {
	return fmt.Sprintf("%s (issuer %q, subject %q)", c.Name, c.Issuer, c.Subject)
}
