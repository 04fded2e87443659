package kvapi

import (
	"encoding/base64"
	"encoding/pem"
	"net/http"
	"strings"

	"github.com/portcullis/portcullis/internal/vault"
)

// mergeBody is Key Vault's CertificateMergeParameters.
type mergeBody struct {
	X5C        []string          `json:"x5c"`
	Attributes *wireAttributes   `json:"attributes"`
	Tags       map[string]string `json:"tags"`
}

// parseMerge decodes POST /certificates/{name}/pending/merge: x5c holds
// the signed certificate first, then its chain, each base64 DER (as the
// SDKs send it) or PEM text.
func parseMerge(body []byte) (vault.CertificateMerge, error) {
	var b mergeBody
	if err := decodeJSON(body, &b); err != nil {
		return vault.CertificateMerge{}, err
	}
	if len(b.X5C) == 0 {
		return vault.CertificateMerge{}, badParameter("x5c is empty: send the certificate signed from the pending CSR (base64 DER), then its chain.")
	}
	var in vault.CertificateMerge
	for i, s := range b.X5C {
		if strings.Contains(s, "-----BEGIN") {
			rest := []byte(s)
			n := 0
			for {
				var blk *pem.Block
				blk, rest = pem.Decode(rest)
				if blk == nil {
					break
				}
				if blk.Type == "CERTIFICATE" {
					in.X5C = append(in.X5C, blk.Bytes)
					n++
				}
			}
			if n == 0 {
				return vault.CertificateMerge{}, badParameter("x5c[%d] is PEM without a CERTIFICATE block.", i)
			}
			continue
		}
		der, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
		if err != nil || len(der) == 0 {
			return vault.CertificateMerge{}, badParameter("x5c[%d] is neither base64 DER nor PEM.", i)
		}
		in.X5C = append(in.X5C, der)
	}
	if b.Attributes != nil {
		if b.Attributes.NotBefore != nil || b.Attributes.Expires != nil {
			return vault.CertificateMerge{}, badParameter("attributes.nbf and attributes.exp cannot be set on merge: they are the signed certificate's validity.")
		}
		in.Enabled = b.Attributes.Enabled
	}
	in.Tags = b.Tags
	return in, nil
}

// operationUpdateBody is Key Vault's CertificateOperationUpdateParameter.
type operationUpdateBody struct {
	CancellationRequested *bool `json:"cancellation_requested"`
}

// parseOperationUpdate decodes PATCH /certificates/{name}/pending.
func parseOperationUpdate(body []byte) (bool, error) {
	var b operationUpdateBody
	if err := decodeJSON(body, &b); err != nil {
		return false, err
	}
	if b.CancellationRequested == nil {
		return false, badParameter("cancellation_requested is required: send {\"cancellation_requested\": true} to cancel the pending operation.")
	}
	return *b.CancellationRequested, nil
}

// pending serves PATCH and DELETE /certificates/{name}/pending.
func (rq *request) pendingChange(name string) {
	c, v := rq.caller, rq.t.vault
	ctx := rq.r.Context()
	s := rq.h.cfg.Vault
	if rq.r.Method == http.MethodDelete {
		op, err := s.DeleteCertificateOperation(ctx, c, v, name)
		rq.ok(rq.operation(op), err)
		return
	}
	cancel, ok := body(rq, parseOperationUpdate)
	if !ok {
		return
	}
	op, err := s.UpdateCertificateOperation(ctx, c, v, name, cancel)
	rq.ok(rq.operation(op), err)
}

// merge serves POST /certificates/{name}/pending/merge.
func (rq *request) merge(name string) {
	rq.route("POST /certificates/{name}/pending/merge")
	if !rq.allow(http.MethodPost) {
		return
	}
	in, ok := body(rq, parseMerge)
	if !ok {
		return
	}
	cert, err := rq.h.cfg.Vault.MergeCertificate(rq.r.Context(), rq.caller, rq.t.vault, name, in)
	if err != nil {
		rq.fail(err)
		return
	}
	rq.reply(http.StatusCreated, rq.certificateBundle(cert))
}
