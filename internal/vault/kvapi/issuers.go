package kvapi

import (
	"net/http"

	"github.com/portcullis/portcullis/internal/vault"
)

// issuerCredentials are Key Vault's IssuerCredentials; pwd is accepted on
// input only (and refused by the service), never written back.
type issuerCredentials struct {
	AccountID *string `json:"account_id,omitempty"`
	Password  *string `json:"pwd,omitempty"`
}

// issuerAttributes are Key Vault's IssuerAttributes.
type issuerAttributes struct {
	Enabled *bool  `json:"enabled,omitempty"`
	Created *int64 `json:"created,omitempty"`
	Updated *int64 `json:"updated,omitempty"`
}

// issuerBundle is Key Vault's IssuerBundle and, with id and provider
// only, CertificateIssuerItem.
type issuerBundle struct {
	ID           string                     `json:"id"`
	Provider     string                     `json:"provider,omitempty"`
	Credentials  *issuerCredentials         `json:"credentials,omitempty"`
	Organization *vault.OrganizationDetails `json:"org_details,omitempty"`
	Attributes   *issuerAttributes          `json:"attributes,omitempty"`
}

// issuerBody is CertificateIssuerSetParameters and
// CertificateIssuerUpdateParameters.
type issuerBody struct {
	Provider     *string                    `json:"provider"`
	Credentials  *issuerCredentials         `json:"credentials"`
	Organization *vault.OrganizationDetails `json:"org_details"`
	Attributes   *issuerAttributes          `json:"attributes"`
}

// parseIssuer decodes the body of PUT and PATCH /certificates/issuers/{name}.
func parseIssuer(body []byte) (vault.IssuerInput, error) {
	var b issuerBody
	if err := decodeJSON(body, &b); err != nil {
		return vault.IssuerInput{}, err
	}
	in := vault.IssuerInput{Provider: b.Provider, Organization: b.Organization}
	if b.Credentials != nil {
		in.AccountID = b.Credentials.AccountID
		if b.Credentials.Password != nil {
			pw := vault.NewValue([]byte(*b.Credentials.Password))
			in.Password = &pw
		}
	}
	if b.Attributes != nil {
		in.Enabled = b.Attributes.Enabled
	}
	return in, nil
}

func (rq *request) issuerBundle(is vault.Issuer) issuerBundle {
	b := issuerBundle{
		ID: rq.objectID("certificates/issuers", is.Name, ""), Provider: is.Provider, Organization: is.Organization,
		Attributes: &issuerAttributes{Enabled: &is.Enabled, Created: unix(is.Created), Updated: unix(is.Updated)},
	}
	if is.AccountID != "" {
		id := is.AccountID
		b.Credentials = &issuerCredentials{AccountID: &id}
	}
	return b
}

func (rq *request) issuerItem(is vault.Issuer, _ bool) issuerBundle {
	return issuerBundle{ID: rq.objectID("certificates/issuers", is.Name, ""), Provider: is.Provider}
}

// issuers serves /certificates/issuers[/{name}].
func (rq *request) issuers(segs []string) {
	c, v := rq.caller, rq.t.vault
	ctx := rq.r.Context()
	s := rq.h.cfg.Vault
	if len(segs) == 1 && segs[0] == "" {
		segs = nil // "/certificates/issuers/"
	}
	switch len(segs) {
	case 0:
		rq.route("GET /certificates/issuers")
		if !rq.allow(http.MethodGet) {
			return
		}
		p, err := rq.pageRequest("certificates/issuers")
		if err != nil {
			rq.fail(err)
			return
		}
		page, err := s.ListIssuers(ctx, c, v, p)
		replyList(rq, "certificates/issuers", p, page, err, false, rq.issuerItem)
	case 1:
		name := segs[0]
		rq.route(rq.r.Method + " /certificates/issuers/{name}")
		if !rq.allow(http.MethodGet, http.MethodPut, http.MethodPatch, http.MethodDelete) {
			return
		}
		var (
			is  vault.Issuer
			err error
		)
		switch rq.r.Method {
		case http.MethodGet:
			is, err = s.GetIssuer(ctx, c, v, name)
		case http.MethodDelete:
			is, err = s.DeleteIssuer(ctx, c, v, name)
		default:
			in, ok := body(rq, parseIssuer)
			if !ok {
				return
			}
			if rq.r.Method == http.MethodPut {
				is, err = s.SetIssuer(ctx, c, v, name, in)
			} else {
				is, err = s.UpdateIssuer(ctx, c, v, name, in)
			}
		}
		if err != nil {
			rq.fail(err)
			return
		}
		rq.reply(http.StatusOK, rq.issuerBundle(is))
	default:
		rq.notFound()
	}
}
