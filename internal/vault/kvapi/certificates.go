package kvapi

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/portcullis/portcullis/internal/vault"
)

// certificateBundle is Key Vault's CertificateBundle / DeletedCertificateBundle
// and, without cer, kid, sid and policy, CertificateItem.
type certificateBundle struct {
	ID          string            `json:"id"`
	KID         string            `json:"kid,omitempty"`
	SID         string            `json:"sid,omitempty"`
	X5T         string            `json:"x5t,omitempty"` // base64url SHA-1 thumbprint
	CER         []byte            `json:"cer,omitempty"` // DER, standard base64
	ContentType string            `json:"contentType,omitempty"`
	Attributes  wireAttributes    `json:"attributes"`
	Tags        map[string]string `json:"tags,omitempty"`
	Policy      *wirePolicy       `json:"policy,omitempty"`
	deletion
}

// certificateOperation is Key Vault's CertificateOperation.
type certificateOperation struct {
	ID                    string                  `json:"id"`
	Issuer                *vault.IssuerParameters `json:"issuer,omitempty"`
	CSR                   []byte                  `json:"csr,omitempty"`
	CancellationRequested bool                    `json:"cancellation_requested"`
	Status                string                  `json:"status"`
	StatusDetails         string                  `json:"status_details,omitempty"`
	Error                 *wireErrorBody          `json:"error,omitempty"`
	Target                string                  `json:"target,omitempty"`
	RequestID             string                  `json:"request_id,omitempty"`
}

func (rq *request) certificateBundle(c vault.Certificate) certificateBundle {
	if c.Pending {
		// Created but not issued yet: Key Vault answers the certificate
		// without version, key, secret or CER.
		return certificateBundle{
			ID: rq.objectID("certificates", c.Name, ""), Attributes: attributesToWire(c.Attributes), Tags: c.Tags,
			Policy: policyToWire(c.Policy, rq.objectID("certificates", c.Name, "policy")),
		}
	}
	return certificateBundle{
		ID: rq.objectID("certificates", c.Name, c.Version), KID: rq.objectID("keys", c.Name, c.Version), SID: rq.objectID("secrets", c.Name, c.Version),
		X5T: c.X5T, CER: c.CER, ContentType: c.ContentType, Attributes: attributesToWire(c.Attributes), Tags: c.Tags,
		Policy: policyToWire(c.Policy, rq.objectID("certificates", c.Name, "policy")), deletion: rq.deletionOf(vault.Certificates, c.Name, c.Deleted),
	}
}

// includePending reads the includePending parameter of the certificate listing (default false).
func (rq *request) includePending() (bool, error) {
	v, ok := rq.r.URL.Query()["includePending"]
	if !ok {
		return false, nil
	}
	if len(v) == 1 {
		switch strings.ToLower(v[0]) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
	}
	return false, badParameter("includePending must be given once, as true or false, got %q.", clip(strings.Join(v, ","), 20))
}

func (rq *request) certificateItem(c vault.Certificate, withVersion bool) certificateBundle {
	version := ""
	if withVersion {
		version = c.Version
	}
	return certificateBundle{
		ID: rq.objectID("certificates", c.Name, version), X5T: c.X5T, Attributes: attributesToWire(c.Attributes), Tags: c.Tags,
		deletion: rq.deletionOf(vault.Certificates, c.Name, c.Deleted),
	}
}

func (rq *request) operation(op vault.CertificateOperation) certificateOperation {
	var e *wireErrorBody
	if op.ErrorCode != "" || op.ErrorMessage != "" {
		e = &wireErrorBody{Code: op.ErrorCode, Message: op.ErrorMessage}
	}
	return certificateOperation{Error: e,
		ID: rq.objectID("certificates", op.Name, "pending"), Issuer: &vault.IssuerParameters{Name: op.IssuerName}, CSR: op.CSR,
		CancellationRequested: op.CancellationRequested, Status: op.Status, StatusDetails: op.StatusDetails,
		Target: rq.objectID("certificates", op.Name, ""), RequestID: op.RequestID,
	}
}

// certificates serves /certificates and everything below it.
func (rq *request) certificates(segs []string) {
	c, v := rq.caller, rq.t.vault
	ctx := rq.r.Context()
	s := rq.h.cfg.Vault
	if len(segs) > 0 && segs[0] == "issuers" {
		rq.issuers(segs[1:])
		return
	}
	if len(segs) > 0 && segs[0] == "contacts" {
		rq.contacts(segs[1:])
		return
	}
	switch {
	case len(segs) == 0:
		rq.route("GET /certificates")
		if !rq.allow(http.MethodGet) {
			return
		}
		p, err := rq.pageRequest("certificates")
		if err != nil {
			rq.fail(err)
			return
		}
		pending, err := rq.includePending()
		if err != nil {
			rq.fail(err)
			return
		}
		var page vault.Page[vault.Certificate]
		if pending {
			rq.listQuery = "includePending=true" // kept in nextLink
			page, err = s.ListCertificatesWithPending(ctx, c, v, p)
		} else {
			page, err = s.ListCertificates(ctx, c, v, p)
		}
		replyList(rq, "certificates", p, page, err, false, rq.certificateItem)
	case len(segs) == 1 && segs[0] == "restore" && rq.r.Method == http.MethodPost:
		rq.restore(vault.Certificates)
	case len(segs) == 1:
		name := segs[0]
		rq.route(rq.r.Method + " /certificates/{name}")
		if !rq.allow(http.MethodGet, http.MethodPatch, http.MethodDelete) {
			return
		}
		switch rq.r.Method {
		case http.MethodGet:
			cert, err := s.GetCertificate(ctx, c, v, name, "")
			rq.ok(rq.certificateBundle(cert), err)
		case http.MethodPatch:
			rq.updateCertificate(name, "")
		case http.MethodDelete:
			cert, err := s.DeleteCertificate(ctx, c, v, name)
			rq.ok(rq.certificateBundle(cert), err)
		}
	case len(segs) == 2:
		rq.certificateAction(segs[0], segs[1])
	case len(segs) == 3 && segs[1] == "pending" && segs[2] == "merge":
		rq.merge(segs[0])
	default:
		rq.notFound()
	}
}

// certificateAction serves /certificates/{name}/{action or version}.
func (rq *request) certificateAction(name, action string) {
	c, v := rq.caller, rq.t.vault
	ctx := rq.r.Context()
	s := rq.h.cfg.Vault
	switch action {
	case "import":
		rq.route("POST /certificates/{name}/import")
		if !rq.allow(http.MethodPost) {
			return
		}
		in, ok := body(rq, parseCertificateImport)
		if !ok {
			return
		}
		cert, err := s.ImportCertificate(ctx, c, v, name, in)
		rq.ok(rq.certificateBundle(cert), err)
	case "create":
		rq.route("POST /certificates/{name}/create")
		if !rq.allow(http.MethodPost) {
			return
		}
		in, ok := body(rq, parseCertificateCreate)
		if !ok {
			return
		}
		// As Key Vault: 202 with the operation inProgress; the certificate
		// is issued in the background and GET .../pending follows it.
		op, err := s.BeginCreateCertificate(ctx, c, v, name, in)
		if err != nil {
			rq.fail(err)
			return
		}
		rq.w.Header().Set("Location", rq.t.link+"/certificates/"+name+"/pending?api-version="+rq.version+"&request_id="+url.QueryEscape(op.RequestID))
		rq.w.Header().Set("Retry-After", "1")
		rq.reply(http.StatusAccepted, rq.operation(op))
	case "pending":
		rq.route(rq.r.Method + " /certificates/{name}/pending")
		if !rq.allow(http.MethodGet, http.MethodPatch, http.MethodDelete) {
			return
		}
		if rq.r.Method != http.MethodGet {
			rq.pendingChange(name)
			return
		}
		op, err := s.GetCertificateOperation(ctx, c, v, name)
		rq.ok(rq.operation(op), err)
	case "policy":
		rq.route(rq.r.Method + " /certificates/{name}/policy")
		if !rq.allow(http.MethodGet, http.MethodPatch) {
			return
		}
		if rq.r.Method == http.MethodGet {
			p, err := s.GetCertificatePolicy(ctx, c, v, name)
			rq.ok(policyToWire(&p, rq.objectID("certificates", name, "policy")), err)
			return
		}
		in, ok := body(rq, parsePolicy)
		if !ok {
			return
		}
		p, err := s.UpdateCertificatePolicy(ctx, c, v, name, in)
		rq.ok(policyToWire(&p, rq.objectID("certificates", name, "policy")), err)
	case "versions":
		rq.route("GET /certificates/{name}/versions")
		if !rq.allow(http.MethodGet) {
			return
		}
		listing := "certificates/" + name + "/versions"
		p, err := rq.pageRequest(listing)
		if err != nil {
			rq.fail(err)
			return
		}
		page, err := s.ListCertificateVersions(ctx, c, v, name, p)
		replyList(rq, listing, p, page, err, true, rq.certificateItem)
	case "backup":
		rq.backup(vault.Certificates, name)
	default:
		rq.route(rq.r.Method + " /certificates/{name}/{version}")
		if !rq.allow(http.MethodGet, http.MethodPatch) {
			return
		}
		if rq.r.Method == http.MethodPatch {
			rq.updateCertificate(name, action)
			return
		}
		cert, err := s.GetCertificate(ctx, c, v, name, action)
		rq.ok(rq.certificateBundle(cert), err)
	}
}

// updateCertificate applies PATCH /certificates/{name}[/{version}]: the
// attributes and tags of the version, and the policy when given.
func (rq *request) updateCertificate(name, version string) {
	s := rq.h.cfg.Vault
	ctx := rq.r.Context()
	b, err := rq.readBody()
	if err != nil {
		rq.fail(err)
		return
	}
	u, policy, err := parseCertificateUpdate(b)
	if err != nil {
		rq.fail(err)
		return
	}
	if policy != nil {
		if _, err := s.UpdateCertificatePolicy(ctx, rq.caller, rq.t.vault, name, *policy); err != nil {
			rq.fail(err)
			return
		}
	}
	cert, err := s.UpdateCertificate(ctx, rq.caller, rq.t.vault, name, version, u)
	if err != nil {
		rq.fail(err)
		return
	}
	if cert.Policy == nil {
		if p, perr := s.GetCertificatePolicy(ctx, rq.caller, rq.t.vault, name); perr == nil {
			cert.Policy = &p
		}
	}
	rq.reply(http.StatusOK, rq.certificateBundle(cert))
}
