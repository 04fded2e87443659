package vault

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/portcullis/portcullis/internal/audit"
	"github.com/portcullis/portcullis/internal/seal"
	"github.com/portcullis/portcullis/internal/store"
)

// Backup and restore (Key Vault's BackupSecret/RestoreSecret and the same
// for keys and certificates). A backup is an opaque blob that only a
// Portcullis holding the same root key can read:
//
//	magic    4 bytes  "PCVB" (Portcullis vault backup)
//	format   1 byte   backupFormat1
//	type     1 byte   's' secret, 'k' key, 'c' certificate
//	sealed   the rest: a seal blob (root key id, wrapped data key, AES-256-GCM)
//	         of the JSON backupPayload, with the aad "portcullis/vault/backup"
//	         followed by the 6 header bytes
//
// The header is authenticated through the aad, so a secret's backup cannot be
// restored as a key (or as a later format). The vault is not bound: a backup
// restores into any vault of an instance that holds the root key that sealed
// it (this one, another node of the cluster, or another instance given the
// same root key file) — Key Vault's rule is the same subscription and
// geography; the root key is Portcullis's equivalent. After a root-key
// rotation, blobs made before it restore only while the previous key stays
// in the keyring.

// MaxBackupBytes bounds a backup blob, so that its base64url form fits a
// restore request; an object whose versions exceed it cannot be backed up.
const MaxBackupBytes = 1 << 20

const (
	backupMagic      = "PCVB"
	backupFormat1    = 1
	backupHeaderSize = len(backupMagic) + 2
	backupAAD        = "portcullis/vault/backup\x00"
)

var backupTypeCodes = map[ObjectType]byte{Secrets: 's', Keys: 'k', Certificates: 'c'}

// backupPayload is what a blob seals: the object and every version, oldest
// first, with its value (a secret's value, or the PKCS#8 private key of a
// key or certificate) in clear inside the sealed envelope.
type backupPayload struct {
	Type     ObjectType      `json:"type"`
	Name     string          `json:"name"`
	Created  time.Time       `json:"created"`
	Policy   json.RawMessage `json:"policy,omitempty"`
	Versions []backupVersion `json:"versions"`
}

type backupVersion struct {
	Version     string            `json:"version"`
	Created     time.Time         `json:"created"`
	Updated     time.Time         `json:"updated"`
	Enabled     bool              `json:"enabled"`
	NotBefore   time.Time         `json:"nbf,omitzero"`
	Expires     time.Time         `json:"exp,omitzero"`
	ContentType string            `json:"contentType,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
	Value       []byte            `json:"value,omitempty"`
	Public      []byte            `json:"public,omitempty"`
	Meta        json.RawMessage   `json:"meta,omitempty"`
}

// badBackup is the error for a blob this instance cannot restore.
func badBackup(format string, args ...any) *Error {
	return badRequest("The backup blob cannot be restored: "+format, args...)
}

// backupHeader returns the header of a blob of type typ.
func backupHeader(typ ObjectType) []byte {
	return append([]byte(backupMagic), backupFormat1, backupTypeCodes[typ])
}

// sealBackup builds the blob for p.
func (s *Service) sealBackup(p backupPayload) ([]byte, error) {
	pt, err := json.Marshal(p)
	if err != nil {
		return nil, internal(err, "encode backup of %s %q", p.Type.singular(), p.Name)
	}
	defer clear(pt)
	header := backupHeader(p.Type)
	sealed, err := s.currentSealer().Seal(pt, append([]byte(backupAAD), header...))
	if err != nil {
		return nil, internal(err, "seal backup of %s %q", p.Type.singular(), p.Name)
	}
	blob := append(header, sealed...)
	if len(blob) > MaxBackupBytes {
		return nil, badRequest("%s %s is too large to back up: its %d versions make a %d-byte backup, more than the %d bytes a backup may hold; back up the database (SQLite file or PostgreSQL) to keep it",
			capitalize(p.Type.singular()), p.Name, len(p.Versions), len(blob), MaxBackupBytes)
	}
	return blob, nil
}

// openBackup checks a blob's header against typ, opens it and validates
// what it holds; every failure is a client error.
func (s *Service) openBackup(typ ObjectType, blob []byte) (backupPayload, error) {
	if len(blob) > MaxBackupBytes {
		return backupPayload{}, badBackup("it has %d bytes, more than the %d a backup may hold.", len(blob), MaxBackupBytes)
	}
	if len(blob) < backupHeaderSize || string(blob[:len(backupMagic)]) != backupMagic {
		return backupPayload{}, badBackup("it is not a Portcullis backup (a Key Vault backup from Azure cannot be restored here).")
	}
	if f := blob[len(backupMagic)]; f > backupFormat1 {
		return backupPayload{}, badBackup("its format %d is newer than this version reads (format %d); restore it with a newer Portcullis.", f, backupFormat1)
	} else if f != backupFormat1 {
		return backupPayload{}, badBackup("its format %d is unknown (this version reads format %d).", f, backupFormat1)
	}
	if code := blob[len(backupMagic)+1]; code != backupTypeCodes[typ] {
		for other, c := range backupTypeCodes {
			if c == code {
				return backupPayload{}, badBackup("it holds a %s, not a %s; restore it with the %s restore operation.", other.singular(), typ.singular(), other.singular())
			}
		}
		return backupPayload{}, badBackup("its object type is unknown.")
	}
	pt, err := s.currentSealer().Open(blob[backupHeaderSize:], append([]byte(backupAAD), blob[:backupHeaderSize]...))
	switch {
	case errors.Is(err, seal.ErrRootKeyMismatch):
		return backupPayload{}, badBackup("it was sealed under another root key (%v); restore it on an instance that holds that root key.", err)
	case err != nil:
		return backupPayload{}, badBackup("it is damaged or was altered (authentication failed).")
	}
	defer clear(pt)
	return decodeBackupPayload(typ, pt)
}

// decodeBackupPayload parses and validates an opened payload. The payload
// is authenticated, but it is checked as untrusted input all the same: a
// blob made by another version, or a bug, must not store what reads cannot
// serve.
func decodeBackupPayload(typ ObjectType, pt []byte) (backupPayload, error) {
	var p backupPayload
	dec := json.NewDecoder(bytes.NewReader(pt))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return backupPayload{}, badBackup("its content does not decode: %v.", err)
	}
	if dec.More() {
		return backupPayload{}, badBackup("its content has trailing data.")
	}
	if p.Type != typ {
		return backupPayload{}, badBackup("its content holds a %q, not a %s.", p.Type, typ.singular())
	}
	if err := ValidateName(p.Name); err != nil {
		return backupPayload{}, badBackup("the object name is invalid: %v", err)
	}
	if len(p.Versions) == 0 {
		return backupPayload{}, badBackup("it holds no version.")
	}
	if p.Policy != nil {
		switch typ {
		case Certificates:
			var pol CertificatePolicy
			if err := json.Unmarshal(p.Policy, &pol); err != nil {
				return backupPayload{}, badBackup("the certificate policy does not decode: %v.", err)
			}
		case Keys:
			var pol KeyRotationPolicy
			if err := json.Unmarshal(p.Policy, &pol); err != nil {
				return backupPayload{}, badBackup("the key rotation policy does not decode: %v.", err)
			}
			if _, err := pol.Normalize(); err != nil {
				return backupPayload{}, badBackup("the key rotation policy is invalid: %v", err)
			}
		default:
			return backupPayload{}, badBackup("a %s carries no policy.", typ.singular())
		}
	}
	seen := map[string]bool{}
	for i, v := range p.Versions {
		if len(v.Version) != 32 || hex.EncodeToString(mustHex(v.Version)) != v.Version {
			return backupPayload{}, badBackup("version %d has an invalid id (want 32 lowercase hex characters).", i+1)
		}
		if seen[v.Version] {
			return backupPayload{}, badBackup("version %s appears twice.", v.Version)
		}
		seen[v.Version] = true
		if err := validateTags(v.Tags); err != nil {
			return backupPayload{}, badBackup("version %s: %v", v.Version, err)
		}
		if err := validateContentType(v.ContentType); err != nil {
			return backupPayload{}, badBackup("version %s: %v", v.Version, err)
		}
		if err := checkDates(v.NotBefore, v.Expires); err != nil {
			return backupPayload{}, badBackup("version %s: %v", v.Version, err)
		}
		if err := checkBackupVersion(typ, v); err != nil {
			return backupPayload{}, badBackup("version %s: %s.", v.Version, err)
		}
	}
	return p, nil
}

// mustHex decodes s, nil when it is not hex (the caller compares).
func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil
	}
	return b
}

// checkBackupVersion checks the type-specific parts of a version as the
// reads will use them.
func checkBackupVersion(typ ObjectType, v backupVersion) error {
	switch typ {
	case Secrets:
		if len(v.Value) > MaxSecretValueBytes {
			return fmt.Errorf("the value has %d bytes, more than %d", len(v.Value), MaxSecretValueBytes)
		}
	case Keys:
		var jwk JSONWebKey
		if err := json.Unmarshal(v.Public, &jwk); err != nil {
			return errors.New("the public key does not decode")
		}
		if isOct(jwk.Kty) {
			if checkOctSize(len(v.Value)*8) != nil {
				return errors.New("the oct key is not 128, 192 or 256 bits long")
			}
		} else if jwk.Crv == CurveP256K {
			if _, err := parseSecp256k1PKCS8(v.Value); err != nil {
				return errors.New("the P-256K private key does not parse")
			}
		} else if _, err := x509.ParsePKCS8PrivateKey(v.Value); err != nil {
			return errors.New("the private key does not parse")
		}
		var meta keyMeta
		if err := json.Unmarshal(v.Meta, &meta); err != nil {
			return errors.New("the key metadata does not decode")
		}
	case Certificates:
		if _, err := x509.ParseCertificate(v.Public); err != nil {
			return errors.New("the certificate does not parse")
		}
		var meta certMeta
		if err := json.Unmarshal(v.Meta, &meta); err != nil {
			return errors.New("the certificate metadata does not decode")
		}
		for _, d := range meta.Chain {
			if _, err := x509.ParseCertificate(d); err != nil {
				return errors.New("a chain certificate does not parse")
			}
		}
		if _, err := x509.ParsePKCS8PrivateKey(v.Value); err != nil {
			return errors.New("the private key does not parse")
		}
	}
	return nil
}

// backupObject builds the backup of a live object of type typ.
func (s *Service) backupObject(ctx context.Context, o *op, v Vault, typ ObjectType, name string) ([]byte, error) {
	if err := s.refuseManaged(ctx, v.Name, typ, name, "backup"); err != nil {
		return nil, err
	}
	obj, ok, err := s.getObject(ctx, v.Name, typ, name)
	if err != nil {
		return nil, err
	}
	if !ok || obj.Deleted != nil {
		return nil, notFound(typ, name, "")
	}
	vers, err := s.store.ListVersions(ctx, v.Name, typ, name)
	if err != nil {
		return nil, internal(err, "list versions of %s %q", typ.singular(), name)
	}
	p := backupPayload{Type: typ, Name: obj.Name, Created: obj.Created.UTC(), Policy: obj.Policy}
	defer func() {
		for _, bv := range p.Versions {
			clear(bv.Value)
		}
	}()
	for _, ver := range vers {
		bv := backupVersion{
			Version: ver.Version, Created: ver.Created.UTC(), Updated: ver.Updated.UTC(), Enabled: ver.Enabled,
			NotBefore: ver.NotBefore.UTC(), Expires: ver.Expires.UTC(), ContentType: ver.ContentType,
			Tags: cloneTags(ver.Tags), Public: ver.Public, Meta: ver.Meta,
		}
		if ver.Sealed != nil {
			if bv.Value, err = s.open(ver); err != nil {
				return nil, err
			}
		}
		p.Versions = append(p.Versions, bv)
	}
	if len(vers) > 0 {
		o.version = vers[len(vers)-1].Version
	}
	return s.sealBackup(p)
}

// restoreObject restores a blob of type typ into vault v and returns the
// newest version with its object.
func (s *Service) restoreObject(ctx context.Context, o *op, v Vault, typ ObjectType, blob []byte) (ObjectEntry, error) {
	p, err := s.openBackup(typ, blob)
	if err != nil {
		return ObjectEntry{}, err
	}
	defer func() {
		for _, bv := range p.Versions {
			clear(bv.Value)
		}
	}()
	o.name = p.Name
	var exclusive []ObjectType
	if typ == Certificates {
		exclusive = []ObjectType{Secrets, Keys}
	} else {
		exclusive = []ObjectType{Certificates}
	}
	for _, other := range exclusive {
		held, ok, err := s.getObject(ctx, v.Name, other, p.Name)
		if err != nil {
			return ObjectEntry{}, err
		}
		if ok {
			return ObjectEntry{}, exclusiveConflict(typ, p.Name, other, held.Deleted != nil)
		}
	}
	vers := make([]ObjectVersion, 0, len(p.Versions))
	for _, bv := range p.Versions {
		ver := ObjectVersion{
			Vault: v.Name, Type: typ, Name: p.Name, Version: bv.Version, Created: bv.Created.UTC(), Updated: bv.Updated.UTC(),
			Enabled: bv.Enabled, NotBefore: bv.NotBefore.UTC(), Expires: bv.Expires.UTC(), ContentType: bv.ContentType,
			Tags: cloneTags(bv.Tags), Public: bv.Public, Meta: bv.Meta,
		}
		if bv.NotBefore.IsZero() {
			ver.NotBefore = time.Time{}
		}
		if bv.Expires.IsZero() {
			ver.Expires = time.Time{}
		}
		// Sealed anew (an empty value too: every version of every type
		// holds a sealed blob): the aad names this vault, which may not
		// be the one the backup was made in.
		if err := s.seal(&ver, bv.Value); err != nil {
			return ObjectEntry{}, err
		}
		vers = append(vers, ver)
	}
	obj := Object{Vault: v.Name, Type: typ, Name: p.Name, Created: p.Created.UTC(), Policy: p.Policy}
	if len(vers) > 0 {
		audit.ChangeFrom(ctx).Describe(obj.Name, vers[len(vers)-1].Version)
	}
	stored, err := s.store.RestoreObject(ctx, obj, vers, exclusive)
	switch {
	case errors.Is(err, ErrObjectDeleted):
		return ObjectEntry{}, deletedConflict(typ, p.Name)
	case errors.Is(err, store.ErrConflict):
		e := conflict("", "%s %s already exists in vault %s; a backup restores only under a free name: delete and purge the %s first, or restore into another vault", capitalize(typ.singular()), p.Name, v.Name, typ.singular())
		e.Err = err
		return ObjectEntry{}, e
	case errors.Is(err, store.ErrNotFound):
		return ObjectEntry{}, &Error{Kind: KindNotFound, Code: CodeVaultNotFound, Message: fmt.Sprintf("vault %q does not exist", v.Name)}
	case err != nil:
		return ObjectEntry{}, internal(err, "restore %s %q", typ.singular(), p.Name)
	}
	newest := stored[len(stored)-1]
	o.version = newest.Version
	if typ == Certificates {
		if leaf, perr := x509.ParseCertificate(newest.Public); perr == nil {
			s.expiry.WithLabelValues(v.Name, foldName(p.Name)).Set(float64(leaf.NotAfter.Unix()))
		}
	}
	obj.Name = newest.Name
	return ObjectEntry{Object: obj, Newest: newest}, nil
}

// onRestore runs a restore as one audited operation (perm), authorized on
// the whole vault: the object does not exist yet, so no object-scoped role
// can cover it (as in Azure, where a role is assigned on an existing
// object).
func onRestore[T any](s *Service, ctx context.Context, c Caller, vault string, typ ObjectType, perm Permission, blob []byte, conv func(Vault, ObjectEntry) (T, error)) (out T, err error) {
	o := s.begin(ctx, c, vault, typ, "", "", perm)
	defer o.end(&err)
	v, err := o.authorize("", false)
	if err != nil {
		return out, err
	}
	e, err := s.restoreObject(ctx, o, v, typ, blob)
	if err != nil {
		return out, err
	}
	return conv(v, e)
}

// BackupSecret returns an opaque, sealed backup of a secret with every
// version; refused for the secret of a certificate (back up the
// certificate).
func (s *Service) BackupSecret(ctx context.Context, c Caller, vault, name string) ([]byte, error) {
	return onVersion(s, ctx, c, vault, Secrets, name, "", PermSecretsBackup, func(o *op, v Vault) ([]byte, error) {
		return s.backupObject(ctx, o, v, Secrets, name)
	})
}

// RestoreSecret restores a secret from a BackupSecret blob with its
// version ids, order and attributes; Conflict if the name is in use.
func (s *Service) RestoreSecret(ctx context.Context, c Caller, vault string, blob []byte) (Secret, error) {
	return onRestore(s, ctx, c, vault, Secrets, PermSecretsRestore, blob, s.entryAsSecret)
}

// BackupKey returns an opaque, sealed backup of a key with every version;
// refused for the key of a certificate (back up the certificate).
func (s *Service) BackupKey(ctx context.Context, c Caller, vault, name string) ([]byte, error) {
	return onVersion(s, ctx, c, vault, Keys, name, "", PermKeysBackup, func(o *op, v Vault) ([]byte, error) {
		return s.backupObject(ctx, o, v, Keys, name)
	})
}

// RestoreKey restores a key from a BackupKey blob; Conflict if the name is
// in use.
func (s *Service) RestoreKey(ctx context.Context, c Caller, vault string, blob []byte) (Key, error) {
	return onRestore(s, ctx, c, vault, Keys, PermKeysRestore, blob, s.entryAsKey)
}

// BackupCertificate returns an opaque, sealed backup of a certificate with
// every version, its policy and its private keys.
func (s *Service) BackupCertificate(ctx context.Context, c Caller, vault, name string) ([]byte, error) {
	return onVersion(s, ctx, c, vault, Certificates, name, "", PermCertificatesBackup, func(o *op, v Vault) ([]byte, error) {
		return s.backupObject(ctx, o, v, Certificates, name)
	})
}

// RestoreCertificate restores a certificate (with its secret and key
// views) from a BackupCertificate blob; Conflict if the name is in use
// among certificates, secrets or keys.
func (s *Service) RestoreCertificate(ctx context.Context, c Caller, vault string, blob []byte) (Certificate, error) {
	return onRestore(s, ctx, c, vault, Certificates, PermCertificatesRestore, blob, s.certificateWithPolicy)
}
