package sts

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/pki"
	"github.com/portcullis/portcullis/internal/store"
)

// ErrUnknownTenant is wrapped by the key-management methods when the tenant
// is neither in the served snapshot nor a GUID.
var ErrUnknownTenant = errors.New("tenant not found")

// rotationLease is the store lease that elects the node which rotates keys.
const rotationLease = "signing-key-rotation"

// retireMargin is added to a retired key's publication window for tokens
// signed by nodes that had not yet loaded the successor, and for validator
// clock skew.
const retireMargin = 10 * time.Minute

// Key statuses reported by SigningKeys.
const (
	KeyStatusNext    = "next"    // published, not signing yet
	KeyStatusActive  = "active"  // the key that signs
	KeyStatusRetired = "retired" // superseded, still published for the tokens it signed
)

// KeyInfo describes one signing key of a tenant.
type KeyInfo struct {
	KID            string    `json:"kid"`
	Status         string    `json:"status"` // KeyStatusNext, KeyStatusActive or KeyStatusRetired
	CreatedAt      time.Time `json:"createdAt"`
	ActivateAt     time.Time `json:"activateAt"`
	PublishedUntil time.Time `json:"publishedUntil,omitzero"` // zero while no successor exists
}

// signingKey is an unsealed, ready-to-sign key.
type signingKey struct {
	tenantID       string
	kid            string
	createdAt      time.Time
	activateAt     time.Time
	publishedUntil time.Time // zero: no successor, published indefinitely
	priv           *rsa.PrivateKey
	pub            *rsa.PublicKey
	certDER        []byte
	sealed         []byte
	header         string // base64url(JOSE header) + "."
}

func (k *signingKey) published(now time.Time) bool {
	return k.publishedUntil.IsZero() || now.Before(k.publishedUntil)
}

// Apply atomically replaces the directory and signing keys the service
// serves from. Keys are unsealed (AAD "signing-key/<tenant>/<kid>") and
// parsed once and reused across calls. On error nothing changes.
func (s *Server) Apply(snap *directory.Snapshot, keys []SigningKey) error {
	if snap == nil {
		return errors.New("sts: Apply with a nil snapshot")
	}
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	byTenant := make(map[string][]*signingKey)
	seen := make(map[string]*signingKey, len(keys))
	for i := range keys {
		sk := &keys[i]
		id := strings.ToLower(sk.TenantID) + "/" + sk.KID
		k, ok := s.unsealed[id]
		if !ok || !bytes.Equal(k.sealed, sk.Sealed) || !k.activateAt.Equal(sk.ActivateAt) || !k.createdAt.Equal(sk.CreatedAt) {
			var err error
			if k, err = s.openKey(sk); err != nil {
				return err
			}
		}
		seen[id] = k
		byTenant[k.tenantID] = append(byTenant[k.tenantID], k)
	}
	for tid, ks := range byTenant {
		// Copies: the publication window depends on the other keys, and a
		// key shared with the previous state must not change under readers.
		out := make([]*signingKey, len(ks))
		for i, k := range ks {
			c := *k
			out[i] = &c
		}
		sortKeys(out)
		for i, k := range out {
			k.publishedUntil = time.Time{}
			if i+1 < len(out) {
				k.publishedUntil = s.retiredUntil(out[i+1].activateAt)
			}
		}
		byTenant[tid] = out
	}
	s.unsealed = seen
	s.cur.Store(&state{snap: snap, keys: byTenant})
	return nil
}

func sortKeys(ks []*signingKey) {
	slices.SortFunc(ks, func(a, b *signingKey) int {
		return compareKeys(a.activateAt, a.createdAt, a.kid, b.activateAt, b.createdAt, b.kid)
	})
}

// compareKeys orders a tenant's signing keys as they sign: by activation,
// then creation, then kid. Apply (served keys) and keyWindows (stored keys)
// must agree on it, or a node would delete a key it still publishes.
func compareKeys(aActivate, aCreated time.Time, aKID string, bActivate, bCreated time.Time, bKID string) int {
	if c := aActivate.Compare(bActivate); c != 0 {
		return c
	}
	if c := aCreated.Compare(bCreated); c != 0 {
		return c
	}
	return strings.Compare(aKID, bKID)
}

// retiredUntil is the end of the publication window of a key whose
// successor activates at successorActivate: the successor's activation plus
// the longest token lifetime and retireMargin.
func (s *Server) retiredUntil(successorActivate time.Time) time.Time {
	return successorActivate.Add(s.cfg.MaxTokenLifetime + retireMargin)
}

// openKey unseals and parses a stored key and precomputes its JOSE header.
func (s *Server) openKey(sk *SigningKey) (*signingKey, error) {
	tid := strings.ToLower(sk.TenantID)
	if s.sealer == nil {
		return nil, fmt.Errorf("signing key %s of tenant %s: no sealer configured", sk.KID, tid)
	}
	der, err := s.sealer.Open(sk.Sealed, SigningKeyAAD(tid, sk.KID))
	if err != nil {
		return nil, fmt.Errorf("unseal signing key %s of tenant %s: %w", sk.KID, tid, err)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	clear(der)
	if err != nil {
		return nil, fmt.Errorf("signing key %s of tenant %s: parse PKCS#8: %w", sk.KID, tid, err)
	}
	priv, ok := parsed.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("signing key %s of tenant %s: %T is not an RSA key", sk.KID, tid, parsed)
	}
	if sk.Algorithm != "" && sk.Algorithm != "RS256" {
		return nil, fmt.Errorf("signing key %s of tenant %s: algorithm %q; only RS256 is supported", sk.KID, tid, sk.Algorithm)
	}
	priv.Precompute()
	cert, err := x509.ParseCertificate(sk.CertDER)
	if err != nil {
		return nil, fmt.Errorf("signing key %s of tenant %s: certificate: %w", sk.KID, tid, err)
	}
	if pub, ok := cert.PublicKey.(*rsa.PublicKey); !ok || !pub.Equal(&priv.PublicKey) {
		return nil, fmt.Errorf("signing key %s of tenant %s: certificate does not match the private key", sk.KID, tid)
	}
	hdr, _ := json.Marshal(struct {
		Alg string `json:"alg"`
		Typ string `json:"typ"`
		Kid string `json:"kid"`
	}{"RS256", "JWT", sk.KID})
	return &signingKey{
		tenantID:   tid,
		kid:        sk.KID,
		createdAt:  sk.CreatedAt,
		activateAt: sk.ActivateAt,
		priv:       priv,
		pub:        &priv.PublicKey,
		certDER:    sk.CertDER,
		sealed:     sk.Sealed,
		header:     base64.RawURLEncoding.EncodeToString(hdr) + ".",
	}, nil
}

// SigningKeyAAD is the context a signing key's private key is sealed with;
// anything that re-seals signing keys (root-key rotation) must use it.
func SigningKeyAAD(tenantID, kid string) []byte {
	return []byte("signing-key/" + tenantID + "/" + kid)
}

// signer returns the tenant's key with the latest activation not after now.
func (st *state) signer(tenantID string, now time.Time) *signingKey {
	ks := st.keys[strings.ToLower(tenantID)]
	for i := len(ks) - 1; i >= 0; i-- {
		if !ks[i].activateAt.After(now) {
			return ks[i]
		}
	}
	return nil
}

// publishedKey returns the tenant's published key with this kid.
func (st *state) publishedKey(tenantID, kid string, now time.Time) *signingKey {
	for _, k := range st.keys[strings.ToLower(tenantID)] {
		if k.kid == kid && k.published(now) {
			return k
		}
	}
	return nil
}

// newSigningKey generates an RSA-2048 key with a self-signed certificate
// for the JWKS, and seals its PKCS#8 form.
func (s *Server) newSigningKey(tenantID string, now, activateAt time.Time) (SigningKey, error) {
	if s.sealer == nil {
		return SigningKey{}, errors.New("create signing key: no sealer configured")
	}
	signer, err := pki.GenerateKey(pki.KeyTypeRSA2048)
	if err != nil {
		return SigningKey{}, fmt.Errorf("generate signing key: %w", err)
	}
	// The certificate only carries the key in x5c; validity covers the
	// whole time the key can be published, with room to spare.
	validity := 365*24*time.Hour + s.cfg.KeyRotationInterval + s.cfg.KeyPrepublish + s.cfg.MaxTokenLifetime
	cert, err := pki.SelfSigned(pkix.Name{CommonName: "Portcullis token signing " + tenantID}, signer, validity, now)
	if err != nil {
		return SigningKey{}, fmt.Errorf("signing key certificate: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(signer)
	if err != nil {
		return SigningKey{}, fmt.Errorf("encode signing key: %w", err)
	}
	kid := pki.X5T(cert)
	sealed, err := s.sealer.Seal(der, SigningKeyAAD(tenantID, kid))
	clear(der)
	if err != nil {
		return SigningKey{}, fmt.Errorf("seal signing key: %w", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(signer.Public())
	if err != nil {
		return SigningKey{}, fmt.Errorf("encode signing public key: %w", err)
	}
	return SigningKey{
		TenantID: tenantID, KID: kid, Algorithm: "RS256",
		PublicDER: pubDER, CertDER: cert.Raw, Sealed: sealed,
		CreatedAt: now, ActivateAt: activateAt,
	}, nil
}

// resolveTenant maps a tenant id or name to its id using the snapshot; an
// id unknown to the snapshot (created moments ago) is used as given.
func (s *Server) resolveTenant(tenant string) (string, error) {
	if t, ok := s.Snapshot().Tenant(tenant); ok {
		return t.ID, nil
	}
	if _, err := parseGUID(tenant); err != nil {
		return "", fmt.Errorf("%w: %q", ErrUnknownTenant, tenant)
	}
	return strings.ToLower(tenant), nil
}

// EnsureSigningKey creates an immediately active signing key for the tenant
// if the store holds none. The key serves after the next Apply.
func (s *Server) EnsureSigningKey(ctx context.Context, tenantID string) error {
	tid, err := s.resolveTenant(tenantID)
	if err != nil {
		return err
	}
	keys, err := s.st.ListSigningKeys(ctx, tid)
	if err != nil {
		return fmt.Errorf("list signing keys of tenant %s: %w", tid, err)
	}
	if len(keys) > 0 {
		return nil
	}
	now := s.now()
	k, err := s.newSigningKey(tid, now, now)
	if err != nil {
		return err
	}
	if err := s.st.CreateSigningKey(ctx, k); err != nil {
		return fmt.Errorf("store signing key of tenant %s: %w", tid, err)
	}
	s.log.Info("created signing key", "tenant", tid, "kid", k.KID)
	return nil
}

// EnsureSigningKeysAtStart gives every tenant of the snapshot a signing key
// if it has none, as a node starts. Nodes starting together on an empty
// database would each create one (three keys where one is due), so only the
// node that gets the rotation lease (held for ttl, as RunRotation holds it)
// creates them; the others wait up to wait for those keys to appear and
// create the missing ones themselves only if they do not (the lease is held
// by a node that stopped). The keys serve after the next Apply.
func (s *Server) EnsureSigningKeysAtStart(ctx context.Context, ttl, wait time.Duration) error {
	held, err := s.st.TryLease(ctx, rotationLease, s.cfg.NodeID, ttl, s.now())
	if err != nil {
		return fmt.Errorf("rotation lease: %w", err)
	}
	tenants := s.Snapshot().Tenants()
	if !held {
		deadline := time.Now().Add(wait)
		for {
			var missing []directory.Tenant
			for _, t := range tenants {
				keys, err := s.st.ListSigningKeys(ctx, t.ID)
				if err != nil {
					return fmt.Errorf("list signing keys of tenant %s: %w", t.ID, err)
				}
				if len(keys) == 0 {
					missing = append(missing, t)
				}
			}
			tenants = missing
			if len(missing) == 0 || time.Now().After(deadline) {
				break
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	for _, t := range tenants {
		if err := s.EnsureSigningKey(ctx, t.ID); err != nil {
			return fmt.Errorf("signing key for tenant %s: %w", t.Name, err)
		}
	}
	return nil
}

// RotateSigningKeys creates the tenant's next signing key and removes keys
// whose publication window has passed. The new key is published at once
// and signs after KeyPrepublish, or immediately when immediate is set (an
// emergency: validators that cached the JWKS must refetch it; the previous
// key stays published for the tokens it signed). It returns the new kid;
// the key serves after the next Apply.
func (s *Server) RotateSigningKeys(ctx context.Context, tenantID string, immediate bool) (string, error) {
	tid, err := s.resolveTenant(tenantID)
	if err != nil {
		return "", err
	}
	now := s.now()
	activate := now.Add(s.cfg.KeyPrepublish)
	if immediate {
		activate = now
		// The new key must sort after every key already signing. A key that
		// activated at this very instant (a clock coarser than the store's
		// microseconds, or an injected one) would tie; the new key then
		// activates at the next whole second. The stores keep microseconds,
		// so an earlier activation within the same second does not tie.
		keys, err := s.st.ListSigningKeys(ctx, tid)
		if err != nil {
			return "", fmt.Errorf("list signing keys of tenant %s: %w", tid, err)
		}
		for _, k := range keys {
			if !k.ActivateAt.After(now) && !activate.After(k.ActivateAt) {
				activate = k.ActivateAt.Truncate(time.Second).Add(time.Second)
			}
		}
	}
	k, err := s.newSigningKey(tid, now, activate)
	if err != nil {
		return "", err
	}
	if err := s.st.CreateSigningKey(ctx, k); err != nil {
		return "", fmt.Errorf("store signing key of tenant %s: %w", tid, err)
	}
	s.log.Info("rotated signing key", "tenant", tid, "kid", k.KID, "activate_at", activate, "immediate", immediate)
	if err := s.deleteUnpublished(ctx, tid, now); err != nil {
		return k.KID, err
	}
	return k.KID, nil
}

// keyWindows orders stored keys by activation and returns each key's
// publication end (zero for the newest).
func (s *Server) keyWindows(keys []SigningKey) ([]SigningKey, []time.Time) {
	ks := slices.Clone(keys)
	slices.SortFunc(ks, func(a, b SigningKey) int {
		return compareKeys(a.ActivateAt, a.CreatedAt, a.KID, b.ActivateAt, b.CreatedAt, b.KID)
	})
	until := make([]time.Time, len(ks))
	for i := 0; i+1 < len(ks); i++ {
		until[i] = s.retiredUntil(ks[i+1].ActivateAt)
	}
	return ks, until
}

// deleteUnpublished removes the tenant's keys whose window ended.
func (s *Server) deleteUnpublished(ctx context.Context, tid string, now time.Time) error {
	keys, err := s.st.ListSigningKeys(ctx, tid)
	if err != nil {
		return fmt.Errorf("list signing keys of tenant %s: %w", tid, err)
	}
	ks, until := s.keyWindows(keys)
	var errs []error
	for i, k := range ks {
		if until[i].IsZero() || now.Before(until[i]) {
			continue
		}
		if err := s.st.DeleteSigningKey(ctx, tid, k.KID); err != nil && !errors.Is(err, store.ErrNotFound) {
			errs = append(errs, fmt.Errorf("delete retired signing key %s of tenant %s: %w", k.KID, tid, err))
			continue
		}
		s.log.Info("deleted retired signing key", "tenant", tid, "kid", k.KID)
	}
	return errors.Join(errs...)
}

// RotateDueKeys runs one rotation pass if this node holds the rotation
// lease: for every tenant it creates a key if there is none, creates the
// next key when the newest is older than KeyRotationInterval −
// KeyPrepublish, and deletes keys past their publication window.
// ttl is the lease duration; it reports whether this node held the lease.
func (s *Server) RotateDueKeys(ctx context.Context, ttl time.Duration) (bool, error) {
	now := s.now()
	ok, err := s.st.TryLease(ctx, rotationLease, s.cfg.NodeID, ttl, now)
	if err != nil {
		return false, fmt.Errorf("rotation lease: %w", err)
	}
	if !ok {
		return false, nil
	}
	var errs []error
	for _, t := range s.Snapshot().Tenants() {
		if err := s.rotateTenantIfDue(ctx, t.ID, now); err != nil {
			errs = append(errs, err)
		}
	}
	return true, errors.Join(errs...)
}

func (s *Server) rotateTenantIfDue(ctx context.Context, tid string, now time.Time) error {
	keys, err := s.st.ListSigningKeys(ctx, tid)
	if err != nil {
		return fmt.Errorf("list signing keys of tenant %s: %w", tid, err)
	}
	if len(keys) == 0 {
		return s.EnsureSigningKey(ctx, tid)
	}
	var newest time.Time
	for _, k := range keys {
		if k.CreatedAt.After(newest) {
			newest = k.CreatedAt
		}
	}
	if now.Sub(newest) >= s.cfg.KeyRotationInterval-s.cfg.KeyPrepublish {
		_, err := s.RotateSigningKeys(ctx, tid, false)
		return err
	}
	return s.deleteUnpublished(ctx, tid, now)
}

// RunRotation runs a rotation pass at start and then every interval until
// ctx ends. All nodes may run it: the store lease lets exactly one rotate.
func (s *Server) RunRotation(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = time.Minute
	}
	ttl := 3 * interval
	pass := func() {
		pctx, cancel := context.WithTimeout(ctx, interval)
		defer cancel()
		if _, err := s.RotateDueKeys(pctx, ttl); err != nil && ctx.Err() == nil {
			s.log.Warn("signing-key rotation failed; will retry", "err", err, "retry_in", interval)
		}
	}
	pass()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			pass()
		}
	}
}

// SigningKeys describes the tenant's signing keys as currently served
// (after the last Apply), ordered by activation.
func (s *Server) SigningKeys(tenantID string) ([]KeyInfo, error) {
	st := s.cur.Load()
	t, ok := st.snap.Tenant(tenantID)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownTenant, tenantID)
	}
	now := s.now()
	signer := st.signer(t.ID, now)
	var out []KeyInfo
	for _, k := range st.keys[strings.ToLower(t.ID)] {
		info := KeyInfo{KID: k.kid, CreatedAt: k.createdAt, ActivateAt: k.activateAt, PublishedUntil: k.publishedUntil}
		switch {
		case k == signer:
			info.Status = KeyStatusActive
		case k.activateAt.After(now):
			info.Status = KeyStatusNext
		default:
			info.Status = KeyStatusRetired
		}
		out = append(out, info)
	}
	return out, nil
}

// jwk is one key of the JWKS, in Entra's field order.
type jwk struct {
	Kty    string   `json:"kty"`
	Use    string   `json:"use"`
	Kid    string   `json:"kid"`
	X5t    string   `json:"x5t"`
	N      string   `json:"n"`
	E      string   `json:"e"`
	X5c    []string `json:"x5c"`
	Alg    string   `json:"alg"`
	Issuer string   `json:"issuer"`
}

func (k *signingKey) jwk(issuer string) jwk {
	return jwk{
		Kty: "RSA", Use: "sig", Kid: k.kid, X5t: k.kid,
		N:      base64.RawURLEncoding.EncodeToString(k.pub.N.Bytes()),
		E:      base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.pub.E)).Bytes()),
		X5c:    []string{base64.StdEncoding.EncodeToString(k.certDER)},
		Alg:    "RS256",
		Issuer: issuer,
	}
}
