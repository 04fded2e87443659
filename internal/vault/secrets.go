package vault

import (
	"context"
	"time"
)

// Secret is one version of a secret. Value is empty in listings. A managed
// secret is the secret view of a certificate version (its key id is
// keys/NAME/VERSION), holding the PFX (base64) or PEM with the private key.
type Secret struct {
	Vault       string
	Name        string
	Version     string
	Value       Value
	ContentType string
	Tags        map[string]string
	Attributes  Attributes
	Managed     bool
	// Deleted is set for deleted secrets.
	Deleted *Deletion
}

// SecretInput is the body of SetSecret.
type SecretInput struct {
	Value       Value
	ContentType string
	Tags        map[string]string
	// Enabled defaults to true.
	Enabled *bool
	// NotBefore and Expires are optional (zero = unset).
	NotBefore time.Time
	Expires   time.Time
}

func (in SecretInput) validate() error {
	if n := in.Value.Len(); n > MaxSecretValueBytes {
		return badRequest("secret value is %d bytes: the maximum is %d bytes (25 KiB)", n, MaxSecretValueBytes)
	}
	if err := validateContentType(in.ContentType); err != nil {
		return err
	}
	if err := validateTags(in.Tags); err != nil {
		return err
	}
	return checkDates(in.NotBefore, in.Expires)
}

func secretOf(v Vault, ver ObjectVersion, value []byte) Secret {
	return Secret{
		Vault: v.Name, Name: ver.Name, Version: ver.Version, Value: NewValue(value),
		ContentType: ver.ContentType, Tags: cloneTags(ver.Tags), Attributes: attributesOf(v, ver),
	}
}

// SetSecret stores value as a new version of secret name (creating it).
func (s *Service) SetSecret(ctx context.Context, c Caller, vault, name string, in SecretInput) (Secret, error) {
	return onVersion(s, ctx, c, vault, Secrets, name, "", PermSecretsSet, func(o *op, v Vault) (Secret, error) {
		if err := in.validate(); err != nil {
			return Secret{}, err
		}
		id, err := newVersionID()
		if err != nil {
			return Secret{}, err
		}
		now := s.now().UTC()
		ver := ObjectVersion{
			Vault: v.Name, Type: Secrets, Name: name, Version: id, Created: now, Updated: now,
			Enabled: in.Enabled == nil || *in.Enabled, NotBefore: in.NotBefore.UTC(), Expires: in.Expires.UTC(),
			ContentType: in.ContentType, Tags: cloneTags(in.Tags),
		}
		if in.NotBefore.IsZero() {
			ver.NotBefore = time.Time{}
		}
		if in.Expires.IsZero() {
			ver.Expires = time.Time{}
		}
		if err := s.seal(&ver, in.Value.Bytes()); err != nil {
			return Secret{}, err
		}
		ver, err = s.addVersion(ctx, ver, AddOptions{Exclusive: []ObjectType{Certificates}})
		if err != nil {
			return Secret{}, err
		}
		o.version = ver.Version
		return secretOf(v, ver, in.Value.Bytes()), nil
	})
}

// GetSecret returns a secret version with its value (the newest when
// version is ""). A disabled version is refused as Key Vault does; nbf and
// exp are not enforced on get (Key Vault allows reading not-yet-valid and
// expired secrets); Resolve applies them.
func (s *Service) GetSecret(ctx context.Context, c Caller, vault, name, version string) (Secret, error) {
	return onVersion(s, ctx, c, vault, Secrets, name, version, PermSecretsGet, func(o *op, v Vault) (Secret, error) {
		sec, err := s.readSecret(ctx, v, name, version, true)
		if err == nil {
			o.version = sec.Version
		}
		return sec, err
	})
}

// readSecret reads a live secret or the secret view of a certificate.
func (s *Service) readSecret(ctx context.Context, v Vault, name, version string, withValue bool) (Secret, error) {
	_, ver, err := s.liveVersion(ctx, v.Name, Secrets, name, version)
	if IsKind(err, KindNotFound) {
		if _, cver, cerr := s.liveVersion(ctx, v.Name, Certificates, name, version); cerr == nil {
			return s.certificateAsSecret(v, cver, withValue)
		}
	}
	if err != nil {
		return Secret{}, err
	}
	if withValue && !ver.Enabled {
		return Secret{}, forbidden(CodeSecretDisabled, "Operation get is not allowed on a disabled secret.")
	}
	var value []byte
	if withValue {
		if value, err = s.open(ver); err != nil {
			return Secret{}, err
		}
	}
	return secretOf(v, ver, value), nil
}

// UpdateSecret changes the attributes of a secret version (the newest when
// version is ""); the value never changes.
func (s *Service) UpdateSecret(ctx context.Context, c Caller, vault, name, version string, u Update) (Secret, error) {
	return onVersion(s, ctx, c, vault, Secrets, name, version, PermSecretsUpdate, func(o *op, v Vault) (Secret, error) {
		if err := s.refuseManaged(ctx, v.Name, Secrets, name, "update"); err != nil {
			return Secret{}, err
		}
		if u.KeyOps != nil {
			return Secret{}, badRequest("key_ops applies to keys, not secrets")
		}
		now := s.now().UTC()
		ver, err := s.updateVersion(ctx, v.Name, Secrets, name, version, func(ver *ObjectVersion) error { return u.apply(ver, now) })
		if err != nil {
			return Secret{}, err
		}
		o.version = ver.Version
		return secretOf(v, ver, nil), nil
	})
}

// refuseManaged refuses direct writes to the secret or key view of a certificate.
func (s *Service) refuseManaged(ctx context.Context, vault string, typ ObjectType, name, operation string) error {
	if !typ.certificateView() {
		return nil
	}
	if _, ok, err := s.getObject(ctx, vault, typ, name); err != nil || ok {
		return err
	}
	managed, err := s.isManaged(ctx, vault, name)
	if err != nil {
		return err
	}
	if managed {
		return forbidden("", "Operation %s is not allowed on a managed %s: %s %s backs certificate %s; use the certificate operations instead.", operation, typ.singular(), typ.singular(), name, name)
	}
	return nil
}

// ListSecrets lists the newest version of each live secret, without values,
// managed ones (of certificates) included.
func (s *Service) ListSecrets(ctx context.Context, c Caller, vault string, p PageRequest) (Page[Secret], error) {
	return listObjectsAs(s, ctx, c, vault, Secrets, PermSecretsReadMetadata, false, p, s.entryAsSecret)
}

func (s *Service) entryAsSecret(v Vault, e ObjectEntry) (Secret, error) {
	var sec Secret
	if e.Object.Type == Certificates {
		var err error
		if sec, err = s.certificateAsSecret(v, e.Newest, false); err != nil {
			return Secret{}, err
		}
	} else {
		sec = secretOf(v, e.Newest, nil)
	}
	sec.Name = e.Object.Name
	sec.Deleted = e.Object.Deleted
	return sec, nil
}

// ListSecretVersions lists every version of a secret, oldest first, without values.
func (s *Service) ListSecretVersions(ctx context.Context, c Caller, vault, name string, p PageRequest) (Page[Secret], error) {
	return listVersionsAs(s, ctx, c, vault, Secrets, PermSecretsReadMetadata, name, p, s.entryAsSecret)
}

// DeleteSecret soft-deletes a secret (all its versions); refused for a
// managed secret and while anything references it.
func (s *Service) DeleteSecret(ctx context.Context, c Caller, vault, name string) (Secret, error) {
	return deleteObjectAs(s, ctx, c, vault, Secrets, PermSecretsDelete, name, s.entryAsSecret)
}

// GetDeletedSecret returns a deleted secret's newest version, without value.
func (s *Service) GetDeletedSecret(ctx context.Context, c Caller, vault, name string) (Secret, error) {
	return getDeletedAs(s, ctx, c, vault, Secrets, PermSecretsReadMetadata, name, s.entryAsSecret)
}

// ListDeletedSecrets lists deleted secrets (those of deleted certificates included).
func (s *Service) ListDeletedSecrets(ctx context.Context, c Caller, vault string, p PageRequest) (Page[Secret], error) {
	return listObjectsAs(s, ctx, c, vault, Secrets, PermSecretsReadMetadata, true, p, s.entryAsSecret)
}

// RecoverSecret brings a deleted secret back with all its versions.
func (s *Service) RecoverSecret(ctx context.Context, c Caller, vault, name string) (Secret, error) {
	return recoverObjectAs(s, ctx, c, vault, Secrets, PermSecretsRecover, name, func(v Vault, _ Object) (Secret, error) {
		return s.readSecret(ctx, v, name, "", false)
	})
}

// PurgeSecret permanently removes a deleted secret; refused while the vault
// has purge protection (until the retention has passed).
func (s *Service) PurgeSecret(ctx context.Context, c Caller, vault, name string) error {
	return s.purge(ctx, c, vault, Secrets, PermSecretsPurge, name)
}
