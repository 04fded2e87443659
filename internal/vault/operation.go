package vault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/portcullis/portcullis/internal/audit"
	"github.com/portcullis/portcullis/internal/pki"
	"github.com/portcullis/portcullis/internal/store"
)

// Certificate creation by issuer Self or a vault CA is an operation, as in
// Key Vault (https://learn.microsoft.com/azure/key-vault/certificates/create-certificate-scenarios):
// BeginCreateCertificate records it inProgress (a Setting of kind
// SettingPending, like a CSR waiting for its merge, so one operation per
// certificate is enforced by the store) and issues in the background; the
// issued version carries the operation's id, and the record is removed,
// after which GetCertificateOperation reports it completed from the
// version. A node that crashes mid-issuance leaves the record claimed
// until ClaimedUntil; ResumeCertificateOperations then completes it: it
// issues unless the newest version already carries the operation's id.

// operationClaim is how long a node's claim on an issuance lasts: far
// longer than issuing takes (an RSA 4096 key is the slowest part).
const operationClaim = 2 * time.Minute

// startIssuance checks what can be checked before issuing (the issuer
// and its CA, the subject, the key type) and records the operation,
// claimed by this node.
func (s *Service) startIssuance(ctx context.Context, v Vault, name string, policy CertificatePolicy, in CertificateCreate, requestID string) (pendingRecord, error) {
	if obj, ok, err := s.getObject(ctx, v.Name, Certificates, name); err != nil {
		return pendingRecord{}, err
	} else if ok && obj.Deleted != nil {
		return pendingRecord{}, deletedConflict(Certificates, name)
	}
	if policy.Issuer.Name != IssuerSelf {
		if _, err := s.loadCA(ctx, v, policy.Issuer.Name); err != nil {
			return pendingRecord{}, err
		}
	}
	xp := policy.X509Properties
	if xp.Subject == "" {
		return pendingRecord{}, badRequest("x509_props.subject is required to create a certificate (e.g. \"CN=my-app\")")
	}
	if _, err := pki.ParseSubject(xp.Subject); err != nil {
		return pendingRecord{}, badRequest("x509_props.subject: %v", err)
	}
	if _, err := policyKeyType(policy.KeyProperties); err != nil {
		return pendingRecord{}, err
	}
	if requestID == "" {
		requestID = uuid.NewString()
	}
	now := s.now().UTC()
	r := pendingRecord{
		Policy: policy, Status: StatusInProgress, RequestID: requestID, Enabled: in.Enabled, Tags: cloneTags(in.Tags),
		OperationID: uuid.NewString(), ClaimedUntil: now.Add(operationClaim),
		StatusDetails: "Certificate creation is in progress: issuing from " + policy.Issuer.Name + ".",
	}
	body, err := json.Marshal(r)
	if err != nil {
		return pendingRecord{}, internal(err, "encode certificate operation")
	}
	if _, err := s.store.CreateSetting(ctx, Setting{Vault: v.Name, Kind: SettingPending, Name: name, Body: body, Created: now, Updated: now}); errors.Is(err, store.ErrConflict) {
		if replaced, err := s.replaceFinishedOperation(ctx, v, name, body); err != nil {
			return pendingRecord{}, err
		} else if !replaced {
			return pendingRecord{}, operationConflict(name)
		}
	} else if err != nil {
		return pendingRecord{}, wrapStoreErr(err, "store operation of certificate %q", name)
	}
	return r, nil
}

// replaceFinishedOperation replaces, with body, the record of an issuance
// that is over though its record is still there: its version is stored and
// the claim of the node that issued it lapsed, so the node stopped before
// removing the record (GetCertificateOperation reports such an operation
// completed, and a new operation must not be refused for it). It reports
// false when the record is that of an operation still under way.
func (s *Service) replaceFinishedOperation(ctx context.Context, v Vault, name string, body []byte) (bool, error) {
	_, cur, ok, err := s.getPending(ctx, v, name)
	if err != nil || !ok {
		return false, err
	}
	if !cur.abandoned(s.now()) {
		return false, nil
	}
	if _, done, err := s.issuedBy(ctx, v, name, cur.OperationID); err != nil || !done {
		return false, err
	}
	replaced := false
	_, err = s.store.UpdateSetting(ctx, v.Name, SettingPending, name, func(st *Setting) error {
		now, err := decodePending(*st)
		if err != nil {
			return err
		}
		// The same finished operation, not one made in between.
		if now.OperationID != cur.OperationID || now.Status != StatusInProgress {
			return nil
		}
		st.Body, st.Updated, replaced = body, s.now().UTC(), true
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return false, nil // removed meanwhile: the caller's conflict stands, a retry succeeds
	}
	if err != nil {
		return false, wrapStoreErr(err, "replace the finished operation of certificate %q", name)
	}
	return replaced, nil
}

// operationConflict refuses a second operation on a certificate.
func operationConflict(name string) *Error {
	return conflict("", "certificate %s already has a pending operation: wait until GET /certificates/%s/pending is no longer inProgress (for issuer Unknown: merge the signed certificate), or delete the operation (DELETE /certificates/%s/pending) first", name, name, name)
}

// completeInBackground issues the operation r off the request; Close
// waits for it. The work does not depend on the request's context, which
// ends with the response.
func (s *Service) completeInBackground(v Vault, name string, r pendingRecord) {
	s.ops.Add(1)
	go func() {
		defer s.ops.Done()
		ctx, cancel := context.WithTimeout(context.Background(), operationClaim)
		defer cancel()
		if _, err := s.completeOperation(ctx, v, name, r); err != nil && !isClientError(err) {
			s.log.Error("vault certificate operation not completed; it is resumed by the next maintenance pass", "vault", v.Name, "name", name, "error", err)
		}
	}()
}

// isClientError reports whether err is final for the operation (the
// request cannot succeed as it is), not a failure to retry.
func isClientError(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Kind != KindInternal && e.Kind != KindUnavailable
}

// completeOperation issues the certificate of operation r (unless a
// version carrying its id exists already) and removes the record. An
// error that retrying cannot fix marks the operation failed; any other
// error leaves it inProgress for ResumeCertificateOperations.
func (s *Service) completeOperation(ctx context.Context, v Vault, name string, r pendingRecord) (ver ObjectVersion, err error) {
	o := s.begin(ctx, internalCaller, v.Name, Certificates, name, "", PermCertificatesCreate)
	o.c.RequestID = r.RequestID
	defer func() { o.end(&err) }()
	_, cur, ok, err := s.getPending(ctx, v, name)
	if err != nil {
		return ObjectVersion{}, err
	}
	if !ok || cur.OperationID != r.OperationID {
		return ObjectVersion{}, conflict("", "the operation of certificate %s was deleted or replaced before it was issued", name)
	}
	if cur.Status != StatusInProgress {
		return ObjectVersion{}, conflict("", "the operation of certificate %s is %s: it is not issued", name, cur.Status)
	}
	ver, done, err := s.issuedBy(ctx, v, name, r.OperationID)
	if err == nil && !done {
		ver, err = s.issue(ctx, v, name, r.Policy, r.Enabled, r.Tags, r.RequestID, r.OperationID)
	}
	if err != nil {
		if isClientError(err) {
			s.failOperation(ctx, v, name, r.OperationID, AsError(err))
		}
		return ObjectVersion{}, err
	}
	o.version = ver.Version
	if _, err := s.store.DeleteSetting(ctx, v.Name, SettingPending, name); err != nil && !errors.Is(err, store.ErrNotFound) {
		// The version is issued; the record left behind is removed when
		// the operation is resumed (it finds the version and stops there).
		s.log.Error("vault certificate operation issued but its record could not be removed", "vault", v.Name, "name", name, "error", err)
	}
	return ver, nil
}

// issuedBy returns the newest version of certificate name if operation id issued it.
func (s *Service) issuedBy(ctx context.Context, v Vault, name, id string) (ObjectVersion, bool, error) {
	ver, err := s.store.GetVersion(ctx, v.Name, Certificates, name, "")
	if errors.Is(err, store.ErrNotFound) {
		return ObjectVersion{}, false, nil
	}
	if err != nil {
		return ObjectVersion{}, false, wrapStoreErr(err, "read certificate %q", name)
	}
	meta, err := decodeCertMeta(ver)
	if err != nil {
		return ObjectVersion{}, false, err
	}
	return ver, meta.Operation == id, nil
}

// failOperation marks operation id of certificate name failed with e,
// as Key Vault reports a failed issuance (status failed, error).
func (s *Service) failOperation(ctx context.Context, v Vault, name, id string, e *Error) {
	_, err := s.store.UpdateSetting(ctx, v.Name, SettingPending, name, func(st *Setting) error {
		cur, err := decodePending(*st)
		if err != nil {
			return err
		}
		if cur.OperationID != id || cur.Status != StatusInProgress {
			return nil
		}
		cur.Status, cur.ErrorCode, cur.ErrorMessage = StatusFailed, e.Code, e.Message
		cur.StatusDetails = "The certificate could not be issued: delete the operation (DELETE /certificates/" + name + "/pending), fix the cause and create the certificate again."
		b, err := json.Marshal(cur)
		if err != nil {
			return internal(err, "encode certificate operation")
		}
		st.Body, st.Updated = b, s.now().UTC()
		return nil
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.Error("vault certificate operation failed and could not be marked failed", "vault", v.Name, "name", name, "error", err)
	}
}

// ResumeCertificateOperations completes the certificate operations of
// issuers Portcullis signs for (Self, vault CAs) that no node is working
// on: those whose claim has lapsed, left by a node that stopped or failed
// mid-issuance. Operations of issuer Unknown wait for their merge and are
// left alone. It returns how many it completed. The server runs it with
// the lifetime actions, on the node holding the maintenance lease.
func (s *Service) ResumeCertificateOperations(ctx context.Context) (int, error) {
	ctx = audit.WithChange(ctx) // each change commits with its audit record
	vaults, err := s.store.ListVaults(ctx)
	if err != nil {
		return 0, fmt.Errorf("vault certificate operations: list vaults: %w", err)
	}
	n := 0
	var errs []error
	for _, v := range vaults {
		sts, err := s.store.ListSettings(ctx, v.Name, SettingPending)
		if err != nil {
			errs = append(errs, fmt.Errorf("vault %s: list certificate operations: %w", v.Name, err))
			continue
		}
		for _, st := range sts {
			r, err := decodePending(st)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if !r.abandoned(s.now()) {
				continue
			}
			claimed, ok, err := s.claimOperation(ctx, v, st.Name, r.OperationID)
			if err != nil {
				errs = append(errs, fmt.Errorf("vault %s certificate %s: claim operation: %w", v.Name, st.Name, err))
				continue
			}
			if !ok {
				continue
			}
			if _, err := s.completeOperation(ctx, v, st.Name, claimed); err != nil {
				if !isClientError(err) {
					errs = append(errs, fmt.Errorf("vault %s certificate %s: %w", v.Name, st.Name, err))
				}
				continue
			}
			n++
		}
	}
	return n, errors.Join(errs...)
}

// claimOperation extends the claim on operation id of certificate name to
// this node, unless another node claimed it meanwhile.
func (s *Service) claimOperation(ctx context.Context, v Vault, name, id string) (pendingRecord, bool, error) {
	var r pendingRecord
	claimed := false
	_, err := s.store.UpdateSetting(ctx, v.Name, SettingPending, name, func(st *Setting) error {
		cur, err := decodePending(*st)
		if err != nil {
			return err
		}
		now := s.now().UTC()
		if cur.OperationID != id || cur.Status != StatusInProgress || now.Before(cur.ClaimedUntil) {
			return nil
		}
		cur.ClaimedUntil = now.Add(operationClaim)
		b, err := json.Marshal(cur)
		if err != nil {
			return internal(err, "encode certificate operation")
		}
		st.Body, st.Updated, r, claimed = b, now, cur, true
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return pendingRecord{}, false, nil
	}
	if err != nil {
		return pendingRecord{}, false, err
	}
	return r, claimed, nil
}
