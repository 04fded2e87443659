package vault

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/portcullis/portcullis/internal/pki"
	"github.com/portcullis/portcullis/internal/store"
)

// The CSR flow (issuer "Unknown"): CreateCertificate generates the key in
// the vault and a CSR, and leaves a pending operation (a Setting of kind
// SettingPending, its key sealed); the CSR is signed outside, and
// MergeCertificate completes the operation with the signed certificate.

// SettingPending holds a certificate's pending operation.
const SettingPending SettingKind = "pending"

// Operation statuses, as Key Vault reports them.
const (
	StatusInProgress = "inProgress"
	StatusCompleted  = "completed"
	StatusCancelled  = "cancelled"
	StatusFailed     = "failed"
)

// maxMergeCertificates bounds the chain MergeCertificate accepts.
const maxMergeCertificates = 10

// CertificateMerge is the body of MergeCertificate.
type CertificateMerge struct {
	// X5C is the signed certificate (DER) first, then its chain.
	X5C     [][]byte
	Enabled *bool
	Tags    map[string]string
}

// pendingRecord is a pending operation as stored (Setting.Body).
type pendingRecord struct {
	Policy                CertificatePolicy `json:"policy"`
	CSR                   []byte            `json:"csr"`
	SealedKey             []byte            `json:"sealed_key"`
	Status                string            `json:"status"`
	CancellationRequested bool              `json:"cancellation_requested,omitempty"`
	RequestID             string            `json:"request_id,omitempty"`
	Enabled               *bool             `json:"enabled,omitempty"`
	Tags                  map[string]string `json:"tags,omitempty"`
	// OperationID identifies an issuance (issuers Self and Portcullis CAs)
	// in the version it creates; ClaimedUntil is when the node issuing it
	// gives up its claim, after which ResumeCertificateOperations may.
	OperationID  string    `json:"operation_id,omitempty"`
	ClaimedUntil time.Time `json:"claimed_until,omitzero"`
	// StatusDetails, ErrorCode and ErrorMessage explain a failed issuance.
	StatusDetails string `json:"status_details,omitempty"`
	ErrorCode     string `json:"error_code,omitempty"`
	ErrorMessage  string `json:"error_message,omitempty"`
}

// pendingVersion is the version label that binds a pending key's seal.
const pendingVersion = "pending"

func pendingNotFound(name string) *Error {
	return &Error{Kind: KindNotFound, Code: CodePendingCertificateNotFound, Message: fmt.Sprintf("Pending certificate not found: %s", name)}
}

func pendingConflict(name string) *Error {
	return conflict("", "certificate %s already has a pending operation: merge the signed certificate (POST /certificates/%s/pending/merge), or delete the operation (DELETE /certificates/%s/pending) first", name, name, name)
}

func decodePending(st Setting) (pendingRecord, error) {
	var r pendingRecord
	if err := json.Unmarshal(st.Body, &r); err != nil {
		return pendingRecord{}, internal(err, "decode pending operation of certificate %q", st.Name)
	}
	return r, nil
}

func (r pendingRecord) operation(v Vault, name string) CertificateOperation {
	issuer := IssuerUnknown
	if r.Policy.Issuer != nil {
		issuer = r.Policy.Issuer.Name
	}
	return CertificateOperation{Vault: v.Name, Name: name, IssuerName: issuer, CSR: r.CSR, Status: r.Status,
		CancellationRequested: r.CancellationRequested, RequestID: r.RequestID, StatusDetails: r.StatusDetails,
		ErrorCode: r.ErrorCode, ErrorMessage: r.ErrorMessage}
}

// issuedByVault says whether the operation is one Portcullis completes
// itself (issuer Self or a vault CA), not a CSR waiting for a merge.
func (r pendingRecord) issuedByVault() bool {
	return r.Policy.Issuer != nil && r.Policy.Issuer.Name != IssuerUnknown
}

// abandoned reports an issuance by the vault still in progress whose node's
// claim lapsed: the node stopped, before issuing or before removing the
// record of a version it issued.
func (r pendingRecord) abandoned(now time.Time) bool {
	return r.issuedByVault() && r.Status == StatusInProgress && !now.Before(r.ClaimedUntil)
}

// getPending reads a certificate's pending operation, reporting whether there is one.
func (s *Service) getPending(ctx context.Context, v Vault, name string) (Setting, pendingRecord, bool, error) {
	st, err := s.store.GetSetting(ctx, v.Name, SettingPending, name)
	if errors.Is(err, store.ErrNotFound) {
		return Setting{}, pendingRecord{}, false, nil
	}
	if err != nil {
		return Setting{}, pendingRecord{}, false, internal(err, "read pending operation of certificate %q", name)
	}
	r, err := decodePending(st)
	return st, r, err == nil, err
}

// startPending generates the key and CSR of a certificate of issuer
// Unknown and records the pending operation.
func (s *Service) startPending(ctx context.Context, v Vault, name string, policy CertificatePolicy, in CertificateCreate, requestID string) (CertificateOperation, error) {
	if _, cur, ok, err := s.getPending(ctx, v, name); err != nil {
		return CertificateOperation{}, err
	} else if ok && cur.issuedByVault() {
		return CertificateOperation{}, operationConflict(name)
	} else if ok {
		return CertificateOperation{}, pendingConflict(name)
	}
	if obj, ok, err := s.getObject(ctx, v.Name, Certificates, name); err != nil {
		return CertificateOperation{}, err
	} else if ok && obj.Deleted != nil {
		return CertificateOperation{}, deletedConflict(Certificates, name)
	}
	xp := policy.X509Properties
	if xp.Subject == "" {
		return CertificateOperation{}, badRequest("x509_props.subject is required to create a certificate signing request (e.g. \"CN=my-app\")")
	}
	subject, err := pki.ParseSubject(xp.Subject)
	if err != nil {
		return CertificateOperation{}, badRequest("x509_props.subject: %v", err)
	}
	kt, err := policyKeyType(policy.KeyProperties)
	if err != nil {
		return CertificateOperation{}, err
	}
	key, err := pki.GenerateKey(kt)
	if err != nil {
		return CertificateOperation{}, internal(err, "generate key")
	}
	_, csrTmpl, err := certificateTemplate(subject, key, xp, s.now().UTC())
	if err != nil {
		return CertificateOperation{}, err
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, csrTmpl, key)
	if err != nil {
		return CertificateOperation{}, badRequest("the policy does not make a valid certificate signing request: %v", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return CertificateOperation{}, internal(err, "encode private key")
	}
	defer clear(der)
	sealed, err := s.currentSealer().Seal(der, aad(v.Name, Certificates, name, pendingVersion))
	if err != nil {
		return CertificateOperation{}, internal(err, "seal pending key of certificate %q", name)
	}
	r := pendingRecord{Policy: policy, CSR: csr, SealedKey: sealed, Status: StatusInProgress, RequestID: requestID, Enabled: in.Enabled, Tags: cloneTags(in.Tags)}
	body, err := json.Marshal(r)
	if err != nil {
		return CertificateOperation{}, internal(err, "encode pending operation")
	}
	now := s.now().UTC()
	// CreateSetting refuses a second pending operation for the name in its
	// transaction, so two concurrent creates cannot both start one.
	if _, err := s.store.CreateSetting(ctx, Setting{Vault: v.Name, Kind: SettingPending, Name: name, Body: body, Created: now, Updated: now}); errors.Is(err, store.ErrConflict) {
		return CertificateOperation{}, pendingConflict(name)
	} else if err != nil {
		return CertificateOperation{}, wrapStoreErr(err, "store pending operation of certificate %q", name)
	}
	return r.operation(v, name), nil
}

// UpdateCertificateOperation requests the cancellation of a certificate's
// pending operation (the only change Key Vault allows); the operation is
// then cancelled and can only be deleted.
func (s *Service) UpdateCertificateOperation(ctx context.Context, c Caller, vault, name string, cancel bool) (CertificateOperation, error) {
	return onVersion(s, ctx, c, vault, Certificates, name, "", PermCertificatesUpdate, func(o *op, v Vault) (CertificateOperation, error) {
		var r pendingRecord
		st, err := s.store.UpdateSetting(ctx, v.Name, SettingPending, name, func(st *Setting) error {
			cur, err := decodePending(*st)
			if err != nil {
				return err
			}
			if cancel && cur.Status == StatusInProgress {
				cur.CancellationRequested, cur.Status = true, StatusCancelled
			}
			b, err := json.Marshal(cur)
			if err != nil {
				return internal(err, "encode pending operation")
			}
			r, st.Body, st.Updated = cur, b, s.now().UTC()
			return nil
		})
		if errors.Is(err, store.ErrNotFound) {
			return CertificateOperation{}, pendingNotFound(name)
		}
		if err != nil {
			return CertificateOperation{}, wrapStoreErr(err, "update pending operation of certificate %q", name)
		}
		return r.operation(v, st.Name), nil
	})
}

// DeleteCertificateOperation removes a certificate's pending operation
// (and the key it generated) and returns it as it was.
func (s *Service) DeleteCertificateOperation(ctx context.Context, c Caller, vault, name string) (CertificateOperation, error) {
	return onVersion(s, ctx, c, vault, Certificates, name, "", PermCertificatesDelete, func(o *op, v Vault) (CertificateOperation, error) {
		st, err := s.store.DeleteSetting(ctx, v.Name, SettingPending, name)
		if errors.Is(err, store.ErrNotFound) {
			return CertificateOperation{}, pendingNotFound(name)
		}
		if err != nil {
			return CertificateOperation{}, internal(err, "delete pending operation of certificate %q", name)
		}
		r, err := decodePending(st)
		if err != nil {
			return CertificateOperation{}, err
		}
		return r.operation(v, st.Name), nil
	})
}

// MergeCertificate completes a pending operation with the certificate
// signed from its CSR (and its chain): the certificate must hold the
// pending key. It becomes a new version of the certificate.
func (s *Service) MergeCertificate(ctx context.Context, c Caller, vault, name string, in CertificateMerge) (Certificate, error) {
	return onVersion(s, ctx, c, vault, Certificates, name, "", PermCertificatesCreate, func(o *op, v Vault) (Certificate, error) {
		if err := validateTags(in.Tags); err != nil {
			return Certificate{}, err
		}
		if len(in.X5C) == 0 || len(in.X5C) > maxMergeCertificates {
			return Certificate{}, badRequest("x5c must hold the signed certificate, then its chain: 1 to %d certificates, got %d", maxMergeCertificates, len(in.X5C))
		}
		st, r, ok, err := s.getPending(ctx, v, name)
		if err != nil {
			return Certificate{}, err
		}
		if !ok {
			return Certificate{}, pendingNotFound(name)
		}
		if r.issuedByVault() {
			return Certificate{}, badRequest("the pending operation of certificate %s is issued by %q, not signed outside the vault: there is nothing to merge; wait until GET /certificates/%s/pending is completed", name, r.Policy.Issuer.Name, name)
		}
		if r.Status != StatusInProgress {
			return Certificate{}, badRequest("the pending operation of certificate %s is %s: delete it (DELETE /certificates/%s/pending) and create the certificate again", name, r.Status, name)
		}
		certs := make([]*x509.Certificate, 0, len(in.X5C))
		for i, der := range in.X5C {
			cc, err := x509.ParseCertificate(der)
			if err != nil {
				return Certificate{}, badRequest("x5c[%d] is not a DER X.509 certificate: %v", i, err)
			}
			certs = append(certs, cc)
		}
		der, err := s.currentSealer().Open(r.SealedKey, aad(v.Name, Certificates, st.Name, pendingVersion))
		if err != nil {
			return Certificate{}, internal(err, "open pending key of certificate %q", name)
		}
		k, err := x509.ParsePKCS8PrivateKey(der)
		clear(der)
		if err != nil {
			return Certificate{}, internal(err, "parse pending key of certificate %q", name)
		}
		key, ok := k.(crypto.Signer)
		if !ok {
			return Certificate{}, internal(fmt.Errorf("%T", k), "pending key of %q is not a signer", name)
		}
		want, err := x509.MarshalPKIXPublicKey(key.Public())
		if err != nil {
			return Certificate{}, internal(err, "encode pending public key")
		}
		got, err := x509.MarshalPKIXPublicKey(certs[0].PublicKey)
		if err != nil || !bytes.Equal(got, want) {
			return Certificate{}, badRequest("x5c[0] does not hold the public key of the pending request: sign the CSR of this operation (GET /certificates/%s/pending, csr), and put the signed certificate first", name)
		}
		enabled, tags := r.Enabled, r.Tags
		if in.Enabled != nil {
			enabled = in.Enabled
		}
		if in.Tags != nil {
			tags = in.Tags
		}
		now := s.now().UTC()
		ver, err := s.newCertificateVersion(v, name, certs[0], certs[1:], key, r.Policy, enabled, tags, r.CSR, now)
		if err != nil {
			return Certificate{}, err
		}
		meta, err := decodeCertMeta(ver)
		if err != nil {
			return Certificate{}, err
		}
		meta.RequestID, meta.Issuer = r.RequestID, IssuerUnknown
		if ver.Meta, err = json.Marshal(meta); err != nil {
			return Certificate{}, internal(err, "encode certificate metadata")
		}
		ver, err = s.addVersion(ctx, ver, AddOptions{Exclusive: []ObjectType{Secrets, Keys}, Policy: r.Policy.marshal()})
		if err != nil {
			return Certificate{}, err
		}
		o.version = ver.Version
		if _, err := s.store.DeleteSetting(ctx, v.Name, SettingPending, name); err != nil && !errors.Is(err, store.ErrNotFound) {
			s.log.Error("vault pending operation could not be removed after its merge", "vault", v.Name, "name", name, "error", err)
		}
		s.expiry.WithLabelValues(v.Name, foldName(name)).Set(float64(certs[0].NotAfter.Unix()))
		cert, err := s.certificateOf(v, ver)
		policy := r.Policy
		cert.Policy = &policy
		return cert, err
	})
}
