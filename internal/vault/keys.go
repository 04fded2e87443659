package vault

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"hash"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// Key is one version of a key: public members only; the private key never
// leaves the vault. JWK.KID is left for kvapi to fill with the key's URL.
type Key struct {
	Vault      string
	Name       string
	Version    string
	JWK        JSONWebKey
	Attributes Attributes
	Tags       map[string]string
	// Managed is set for the key of a certificate.
	Managed bool
	// Deleted is set for deleted keys.
	Deleted *Deletion
}

// KeyCreate is the body of CreateKey.
type KeyCreate struct {
	// KeyType is "RSA", "EC", "oct" or "oct-HSM".
	KeyType string
	// KeySize is 2048 (default), 3072 or 4096 for RSA; 128, 192 or 256
	// (default) for oct.
	KeySize int
	// Curve is "P-256" (default), "P-384" or "P-521" for EC.
	Curve string
	// KeyOps defaults to every operation the key type supports.
	KeyOps    []string
	Enabled   *bool
	NotBefore time.Time
	Expires   time.Time
	Tags      map[string]string
}

// KeyImport is the body of ImportKey: a JWK with private members, or PEM.
type KeyImport struct {
	JWK *JSONWebKey
	// PEM is a PKCS#8, PKCS#1 or SEC1 private key, used when JWK is nil.
	PEM []byte
	// KeyOps overrides the JWK's key_ops; default every supported operation.
	KeyOps    []string
	Enabled   *bool
	NotBefore time.Time
	Expires   time.Time
	Tags      map[string]string
}

// KeyOperationResult is the output of a cryptographic operation.
type KeyOperationResult struct {
	Vault   string
	Name    string
	Version string
	// Result is the signature, ciphertext, plaintext or (un)wrapped key.
	Result Value
	// IV, AuthenticationTag and AdditionalAuthenticatedData are set by
	// AES encryption (GCM: nonce, tag and the aad given; CBC: the iv).
	IV                          []byte
	AuthenticationTag           []byte
	AdditionalAuthenticatedData []byte
}

// Key operations (JWK key_ops).
const (
	OpEncrypt   = "encrypt"
	OpDecrypt   = "decrypt"
	OpSign      = "sign"
	OpVerify    = "verify"
	OpWrapKey   = "wrapKey"
	OpUnwrapKey = "unwrapKey"
	OpImport    = "import"
)

var (
	rsaKeyOps = []string{OpEncrypt, OpDecrypt, OpSign, OpVerify, OpWrapKey, OpUnwrapKey}
	ecKeyOps  = []string{OpSign, OpVerify}
	octKeyOps = []string{OpEncrypt, OpDecrypt, OpWrapKey, OpUnwrapKey}
)

type keyMeta struct {
	KeyOps []string `json:"key_ops"`
}

// validKeyOps checks ops against the key type, defaulting to all.
func validKeyOps(kty string, ops []string) ([]string, error) {
	allowed := ecKeyOps
	switch {
	case kty == "RSA":
		allowed = rsaKeyOps
	case isOct(kty):
		allowed = octKeyOps
	}
	if ops == nil {
		return slices.Clone(allowed), nil
	}
	out := []string{}
	for _, op := range ops {
		canon := ""
		for _, a := range append(slices.Clone(allowed), OpImport) {
			if strings.EqualFold(op, a) {
				canon = a
			}
		}
		if canon == "" {
			return nil, badRequest("key operation %q is not valid for this key type: valid operations are %s", op, strings.Join(allowed, ", "))
		}
		if !slices.Contains(out, canon) {
			out = append(out, canon)
		}
	}
	return out, nil
}

func (s *Service) keyOf(v Vault, ver ObjectVersion) (Key, error) {
	var jwk JSONWebKey
	if err := json.Unmarshal(ver.Public, &jwk); err != nil {
		return Key{}, internal(err, "decode stored key %q", ver.Name)
	}
	// key_ops live in Meta, which UpdateKey may change (Public is immutable).
	var meta keyMeta
	if err := json.Unmarshal(ver.Meta, &meta); err != nil {
		return Key{}, internal(err, "decode stored key %q metadata", ver.Name)
	}
	jwk.KeyOps = meta.KeyOps
	return Key{Vault: v.Name, Name: ver.Name, Version: ver.Version, JWK: jwk, Attributes: attributesOf(v, ver), Tags: cloneTags(ver.Tags)}, nil
}

// certificateAsKey is the managed key view of a certificate version.
func (s *Service) certificateAsKey(v Vault, ver ObjectVersion) (Key, error) {
	meta, err := decodeCertMeta(ver)
	if err != nil {
		return Key{}, err
	}
	cert, err := x509.ParseCertificate(ver.Public)
	if err != nil {
		return Key{}, internal(err, "parse stored certificate %q", ver.Name)
	}
	jwk, err := publicJWK(cert.PublicKey, meta.KeyOps)
	if err != nil {
		return Key{}, err
	}
	return Key{Vault: v.Name, Name: ver.Name, Version: ver.Version, JWK: jwk, Attributes: attributesOf(v, ver), Tags: cloneTags(ver.Tags), Managed: true}, nil
}

func (s *Service) addKeyMaterial(ctx context.Context, v Vault, name string, m keyMaterial, ops []string, enabled *bool, nbf, exp time.Time, tags map[string]string) (ObjectVersion, error) {
	if err := m.validate(); err != nil {
		return ObjectVersion{}, err
	}
	if err := validateTags(tags); err != nil {
		return ObjectVersion{}, err
	}
	if err := checkDates(nbf, exp); err != nil {
		return ObjectVersion{}, err
	}
	jwk, err := m.publicJWK()
	if err != nil {
		return ObjectVersion{}, err
	}
	if ops, err = validKeyOps(jwk.Kty, ops); err != nil {
		return ObjectVersion{}, err
	}
	jwk.KeyOps = ops
	pub, _ := json.Marshal(jwk)
	meta, _ := json.Marshal(keyMeta{KeyOps: ops})
	der, err := m.encode()
	if err != nil {
		return ObjectVersion{}, err
	}
	defer clear(der)
	id, err := newVersionID()
	if err != nil {
		return ObjectVersion{}, err
	}
	now := s.now().UTC()
	ver := ObjectVersion{
		Vault: v.Name, Type: Keys, Name: name, Version: id, Created: now, Updated: now,
		Enabled: enabled == nil || *enabled, Tags: cloneTags(tags), Public: pub, Meta: meta,
	}
	if !nbf.IsZero() {
		ver.NotBefore = nbf.UTC()
	}
	if !exp.IsZero() {
		ver.Expires = exp.UTC()
	}
	if err := s.seal(&ver, der); err != nil {
		return ObjectVersion{}, err
	}
	return s.addVersion(ctx, ver, AddOptions{Exclusive: []ObjectType{Certificates}})
}

// CreateKey generates a new version of key name: RSA 2048/3072/4096, EC
// P-256/P-384/P-521 or oct (AES) 128/192/256.
func (s *Service) CreateKey(ctx context.Context, c Caller, vault, name string, in KeyCreate) (Key, error) {
	return onVersion(s, ctx, c, vault, Keys, name, "", PermKeysCreate, func(o *op, v Vault) (Key, error) {
		if in.KeyType == "" {
			return Key{}, badRequest("kty is required: RSA, EC or oct")
		}
		m, err := generateKey(in.KeyType, in.KeySize, in.Curve)
		if err != nil {
			return Key{}, err
		}
		defer m.clear()
		ver, err := s.addKeyMaterial(ctx, v, name, m, in.KeyOps, in.Enabled, in.NotBefore, in.Expires, in.Tags)
		if err != nil {
			return Key{}, err
		}
		o.version = ver.Version
		return s.keyOf(v, ver)
	})
}

// ImportKey stores a caller's private key (JWK with private members, or
// PEM) as a new version of key name.
func (s *Service) ImportKey(ctx context.Context, c Caller, vault, name string, in KeyImport) (Key, error) {
	return onVersion(s, ctx, c, vault, Keys, name, "", PermKeysImport, func(o *op, v Vault) (Key, error) {
		var m keyMaterial
		ops := in.KeyOps
		switch {
		case in.JWK != nil:
			var err error
			if m, err = in.JWK.material(); err != nil {
				return Key{}, err
			}
			defer m.clear()
			if ops == nil {
				ops = in.JWK.KeyOps
			}
		case len(in.PEM) > 0:
			key, err := parsePrivateKeyPEM(in.PEM)
			if err != nil {
				return Key{}, err
			}
			m = keyMaterial{signer: key}
		default:
			return Key{}, badRequest("no key to import: supply a JWK with its private members or a PEM private key")
		}
		ver, err := s.addKeyMaterial(ctx, v, name, m, ops, in.Enabled, in.NotBefore, in.Expires, in.Tags)
		if err != nil {
			return Key{}, err
		}
		o.version = ver.Version
		return s.keyOf(v, ver)
	})
}

// readKey reads a live key version or the key view of a certificate.
func (s *Service) readKey(ctx context.Context, v Vault, name, version string) (Key, ObjectVersion, error) {
	_, ver, err := s.liveVersion(ctx, v.Name, Keys, name, version)
	if IsKind(err, KindNotFound) {
		if _, cver, cerr := s.liveVersion(ctx, v.Name, Certificates, name, version); cerr == nil {
			k, err := s.certificateAsKey(v, cver)
			return k, cver, err
		}
	}
	if err != nil {
		return Key{}, ObjectVersion{}, err
	}
	k, err := s.keyOf(v, ver)
	return k, ver, err
}

// GetKey returns a key version's public part (the newest when version is "").
func (s *Service) GetKey(ctx context.Context, c Caller, vault, name, version string) (Key, error) {
	return onVersion(s, ctx, c, vault, Keys, name, version, PermKeysRead, func(o *op, v Vault) (Key, error) {
		k, _, err := s.readKey(ctx, v, name, version)
		if err == nil {
			o.version = k.Version
		}
		return k, err
	})
}

// UpdateKey changes a key version's attributes and key_ops.
func (s *Service) UpdateKey(ctx context.Context, c Caller, vault, name, version string, u Update) (Key, error) {
	return onVersion(s, ctx, c, vault, Keys, name, version, PermKeysUpdate, func(o *op, v Vault) (Key, error) {
		if err := s.refuseManaged(ctx, v.Name, Keys, name, "update"); err != nil {
			return Key{}, err
		}
		if u.ContentType != nil {
			return Key{}, badRequest("contentType applies to secrets, not keys")
		}
		now := s.now().UTC()
		ver, err := s.updateVersion(ctx, v.Name, Keys, name, version, func(ver *ObjectVersion) error {
			if err := u.apply(ver, now); err != nil {
				return err
			}
			if u.KeyOps == nil {
				return nil
			}
			var jwk JSONWebKey
			if err := json.Unmarshal(ver.Public, &jwk); err != nil {
				return internal(err, "decode stored key")
			}
			ops, err := validKeyOps(jwk.Kty, u.KeyOps)
			if err != nil {
				return err
			}
			ver.Meta, _ = json.Marshal(keyMeta{KeyOps: ops})
			return nil
		})
		if err != nil {
			return Key{}, err
		}
		o.version = ver.Version
		return s.keyOf(v, ver)
	})
}

// ListKeys lists the newest version of each live key (certificates' keys included).
func (s *Service) ListKeys(ctx context.Context, c Caller, vault string, p PageRequest) (Page[Key], error) {
	return listObjectsAs(s, ctx, c, vault, Keys, PermKeysRead, false, p, s.entryAsKey)
}

// ListDeletedKeys lists deleted keys (those of deleted certificates included).
func (s *Service) ListDeletedKeys(ctx context.Context, c Caller, vault string, p PageRequest) (Page[Key], error) {
	return listObjectsAs(s, ctx, c, vault, Keys, PermKeysRead, true, p, s.entryAsKey)
}

func (s *Service) entryAsKey(v Vault, e ObjectEntry) (Key, error) {
	var k Key
	var err error
	if e.Object.Type == Certificates {
		k, err = s.certificateAsKey(v, e.Newest)
	} else {
		k, err = s.keyOf(v, e.Newest)
	}
	if err != nil {
		return Key{}, err
	}
	k.Name, k.Deleted = e.Object.Name, e.Object.Deleted
	return k, nil
}

// ListKeyVersions lists every version of a key, oldest first.
func (s *Service) ListKeyVersions(ctx context.Context, c Caller, vault, name string, p PageRequest) (Page[Key], error) {
	return listVersionsAs(s, ctx, c, vault, Keys, PermKeysRead, name, p, s.entryAsKey)
}

// DeleteKey soft-deletes a key; refused for a certificate's key and while referenced.
func (s *Service) DeleteKey(ctx context.Context, c Caller, vault, name string) (Key, error) {
	return deleteObjectAs(s, ctx, c, vault, Keys, PermKeysDelete, name, s.entryAsKey)
}

// GetDeletedKey returns a deleted key's newest version.
func (s *Service) GetDeletedKey(ctx context.Context, c Caller, vault, name string) (Key, error) {
	return getDeletedAs(s, ctx, c, vault, Keys, PermKeysRead, name, s.entryAsKey)
}

// RecoverKey brings a deleted key back.
func (s *Service) RecoverKey(ctx context.Context, c Caller, vault, name string) (Key, error) {
	return recoverObjectAs(s, ctx, c, vault, Keys, PermKeysRecover, name, func(v Vault, _ Object) (Key, error) {
		k, _, err := s.readKey(ctx, v, name, "")
		return k, err
	})
}

// PurgeKey permanently removes a deleted key; refused under purge protection.
func (s *Service) PurgeKey(ctx context.Context, c Caller, vault, name string) error {
	return s.purge(ctx, c, vault, Keys, PermKeysPurge, name)
}

// usableKey reads a key version for an operation, enforcing enabled,
// key_ops and (for sign, encrypt and wrapKey) the nbf/exp window; Key Vault
// lets verify, decrypt and unwrap work outside it.
func (s *Service) usableKey(ctx context.Context, v Vault, name, version, keyOp string) (Key, ObjectVersion, error) {
	k, ver, err := s.readKey(ctx, v, name, version)
	if err != nil {
		return Key{}, ObjectVersion{}, err
	}
	if !ver.Enabled {
		return Key{}, ObjectVersion{}, forbidden(CodeKeyDisabled, "Operation %s is not allowed on a disabled key.", keyOp)
	}
	if !slices.Contains(k.JWK.KeyOps, keyOp) {
		return Key{}, ObjectVersion{}, forbidden("", "Operation %s is not permitted on key %s: its key_ops are [%s].", keyOp, name, strings.Join(k.JWK.KeyOps, ", "))
	}
	if keyOp == OpSign || keyOp == OpEncrypt || keyOp == OpWrapKey {
		now := s.now()
		if !ver.NotBefore.IsZero() && now.Before(ver.NotBefore) {
			return Key{}, ObjectVersion{}, forbidden("", "Operation %s is not allowed: key %s is not valid before %s.", keyOp, name, ver.NotBefore.Format(time.RFC3339))
		}
		if !ver.Expires.IsZero() && !now.Before(ver.Expires) {
			return Key{}, ObjectVersion{}, forbidden("", "Operation %s is not allowed: key %s expired on %s.", keyOp, name, ver.Expires.Format(time.RFC3339))
		}
	}
	return k, ver, nil
}

// cryptoKey loads the private key of an RSA or EC key for an operation
// (see usableKey).
func (s *Service) cryptoKey(ctx context.Context, v Vault, name, version, keyOp string) (crypto.Signer, ObjectVersion, error) {
	k, ver, err := s.usableKey(ctx, v, name, version, keyOp)
	if err != nil {
		return nil, ObjectVersion{}, err
	}
	if isOct(k.JWK.Kty) {
		return nil, ObjectVersion{}, badRequest("key %s is a symmetric (oct) key: operation %s needs an RSA or EC key", name, keyOp)
	}
	key, err := s.openSigner(k, ver)
	if err != nil {
		return nil, ObjectVersion{}, err
	}
	return key, ver, nil
}

// materialOp runs fn with the material of any key version (see usableKey)
// and fills in the result's key identity.
func (s *Service) materialOp(ctx context.Context, c Caller, vault, name, version string, perm Permission, keyOp string, fn func(keyMaterial) (KeyOperationResult, error)) (KeyOperationResult, error) {
	return onVersion(s, ctx, c, vault, Keys, name, version, perm, func(o *op, v Vault) (KeyOperationResult, error) {
		k, ver, err := s.usableKey(ctx, v, name, version, keyOp)
		if err != nil {
			return KeyOperationResult{}, err
		}
		var m keyMaterial
		if isOct(k.JWK.Kty) {
			if m.secret, err = s.open(ver); err != nil {
				return KeyOperationResult{}, err
			}
			m.octKty = k.JWK.Kty
			defer m.clear()
		} else if m.signer, err = s.openSigner(k, ver); err != nil {
			return KeyOperationResult{}, err
		}
		o.version = ver.Version
		res, err := fn(m)
		if err != nil {
			return KeyOperationResult{}, err
		}
		res.Vault, res.Name, res.Version = v.Name, ver.Name, ver.Version
		return res, nil
	})
}

// cryptoOp runs fn with the private key of a key (or certificate key) version.
func (s *Service) cryptoOp(ctx context.Context, c Caller, vault, name, version string, perm Permission, keyOp string, fn func(crypto.Signer) ([]byte, error)) (KeyOperationResult, error) {
	return onVersion(s, ctx, c, vault, Keys, name, version, perm, func(o *op, v Vault) (KeyOperationResult, error) {
		key, ver, err := s.cryptoKey(ctx, v, name, version, keyOp)
		if err != nil {
			return KeyOperationResult{}, err
		}
		o.version = ver.Version
		res, err := fn(key)
		if err != nil {
			return KeyOperationResult{}, err
		}
		return KeyOperationResult{Vault: v.Name, Name: ver.Name, Version: ver.Version, Result: NewValue(res)}, nil
	})
}

type signAlg struct {
	hash  crypto.Hash
	pss   bool
	ec    bool
	curve string
}

var signAlgs = map[string]signAlg{
	"RS256": {hash: crypto.SHA256}, "RS384": {hash: crypto.SHA384}, "RS512": {hash: crypto.SHA512},
	"PS256": {hash: crypto.SHA256, pss: true}, "PS384": {hash: crypto.SHA384, pss: true}, "PS512": {hash: crypto.SHA512, pss: true},
	"ES256": {hash: crypto.SHA256, ec: true, curve: "P-256"}, "ES384": {hash: crypto.SHA384, ec: true, curve: "P-384"},
	"ES512":  {hash: crypto.SHA512, ec: true, curve: "P-521"},
	"ES256K": {hash: crypto.SHA256, ec: true, curve: CurveP256K},
}

func lookupSignAlg(alg string, pub crypto.PublicKey, digest []byte) (signAlg, error) {
	a, ok := signAlgs[alg]
	if !ok {
		return signAlg{}, badRequest("signature algorithm %q is not supported: use RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512 or ES256K", alg)
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if a.ec {
			return signAlg{}, badRequest("algorithm %s needs an EC key; this key is RSA", alg)
		}
	case *ecdsa.PublicKey:
		if !a.ec {
			return signAlg{}, badRequest("algorithm %s needs an RSA key; this key is EC", alg)
		}
		if k.Curve.Params().Name != a.curve {
			return signAlg{}, badRequest("algorithm %s needs curve %s; this key is %s", alg, a.curve, k.Curve.Params().Name)
		}
	case *secp256k1.PublicKey:
		if a.curve != CurveP256K {
			return signAlg{}, badRequest("algorithm %s does not suit a P-256K key: use ES256K", alg)
		}
	}
	if len(digest) != a.hash.Size() {
		return signAlg{}, badRequest("algorithm %s signs a %d-byte %s digest, got %d bytes: hash the data first", alg, a.hash.Size(), a.hash, len(digest))
	}
	return a, nil
}

// Sign signs a digest the caller computed (as Key Vault does) with alg:
// RS256/384/512, PS256/384/512 (salt length = hash length) or
// ES256/384/512/256K (signature R||S).
func (s *Service) Sign(ctx context.Context, c Caller, vault, name, version, alg string, digest []byte) (KeyOperationResult, error) {
	return s.cryptoOp(ctx, c, vault, name, version, PermKeysSign, OpSign, func(key crypto.Signer) ([]byte, error) {
		a, err := lookupSignAlg(alg, key.Public(), digest)
		if err != nil {
			return nil, err
		}
		switch k := key.(type) {
		case *rsa.PrivateKey:
			if a.pss {
				return rsa.SignPSS(rand.Reader, k, a.hash, digest, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
			}
			return rsa.SignPKCS1v15(rand.Reader, k, a.hash, digest)
		case *ecdsa.PrivateKey:
			r, sv, err := ecdsa.Sign(rand.Reader, k, digest)
			if err != nil {
				return nil, internal(err, "sign")
			}
			size := (k.Curve.Params().BitSize + 7) / 8
			out := make([]byte, 2*size)
			r.FillBytes(out[:size])
			sv.FillBytes(out[size:])
			return out, nil
		case secp256k1Key:
			return k.Sign(nil, digest, nil)
		}
		return nil, badRequest("key type %T cannot sign", key)
	})
}

// Verify reports whether signature is valid over digest for alg (PS*
// signatures of any salt length are accepted).
func (s *Service) Verify(ctx context.Context, c Caller, vault, name, version, alg string, digest, signature []byte) (valid bool, err error) {
	_, err = s.cryptoOp(ctx, c, vault, name, version, PermKeysVerify, OpVerify, func(key crypto.Signer) ([]byte, error) {
		a, err := lookupSignAlg(alg, key.Public(), digest)
		if err != nil {
			return nil, err
		}
		switch k := key.Public().(type) {
		case *rsa.PublicKey:
			if a.pss {
				valid = rsa.VerifyPSS(k, a.hash, digest, signature, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto}) == nil
			} else {
				valid = rsa.VerifyPKCS1v15(k, a.hash, digest, signature) == nil
			}
		case *ecdsa.PublicKey:
			size := (k.Curve.Params().BitSize + 7) / 8
			if len(signature) == 2*size {
				r := new(big.Int).SetBytes(signature[:size])
				sv := new(big.Int).SetBytes(signature[size:])
				valid = ecdsa.Verify(k, digest, r, sv)
			}
		case *secp256k1.PublicKey:
			valid = verifySecp256k1(k, digest, signature)
		}
		return nil, nil
	})
	return valid, err
}

func oaepHash(alg string) (func() hash.Hash, bool, error) {
	switch alg {
	case "RSA-OAEP":
		return sha1.New, true, nil
	case "RSA-OAEP-256":
		return sha256.New, true, nil
	case "RSA1_5":
		return nil, false, nil
	}
	return nil, false, badRequest("encryption algorithm %q is not supported: use RSA-OAEP, RSA-OAEP-256 or RSA1_5", alg)
}

func rsaEncrypt(key crypto.Signer, alg string, plaintext []byte) ([]byte, error) {
	pub, ok := key.Public().(*rsa.PublicKey)
	if !ok {
		return nil, badRequest("algorithm %s needs an RSA key", alg)
	}
	h, oaep, err := oaepHash(alg)
	if err != nil {
		return nil, err
	}
	var out []byte
	if oaep {
		out, err = rsa.EncryptOAEP(h(), rand.Reader, pub, plaintext, nil)
	} else {
		//lint:ignore SA1019 Key Vault's RSA1_5, kept for clients that still send it
		out, err = rsa.EncryptPKCS1v15(rand.Reader, pub, plaintext)
	}
	if err != nil {
		return nil, badRequest("%s cannot encrypt %d bytes with a %d-bit key: %v", alg, len(plaintext), pub.N.BitLen(), err)
	}
	return out, nil
}

func rsaDecrypt(key crypto.Signer, alg string, ciphertext []byte) ([]byte, error) {
	k, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, badRequest("algorithm %s needs an RSA key", alg)
	}
	h, oaep, err := oaepHash(alg)
	if err != nil {
		return nil, err
	}
	var out []byte
	if oaep {
		out, err = rsa.DecryptOAEP(h(), nil, k, ciphertext, nil)
	} else {
		// Key Vault's RSA1_5. Its padding-oracle risk gives nothing to a
		// caller who holds the decrypt permission anyway (Crypto User
		// also may sign), and every failure answers with the same words.
		//lint:ignore SA1019 Key Vault's RSA1_5
		out, err = rsa.DecryptPKCS1v15(nil, k, ciphertext)
	}
	if err != nil {
		return nil, badRequest("decryption failed: the ciphertext was not made with %s under this key version", alg)
	}
	return out, nil
}

// rsaOnly refuses AES members and algorithms on an RSA or EC key.
func rsaOnly(alg string, p SymmetricParams) error {
	if _, ok := aesAlgs[alg]; ok {
		return badRequest("algorithm %s needs a symmetric (oct) key; this key is RSA or EC", alg)
	}
	if !p.empty() {
		return badRequest("iv, aad and tag belong to the AES algorithms of oct keys, not %s", alg)
	}
	return nil
}

func rsaResult(out []byte, err error) (KeyOperationResult, error) {
	if err != nil {
		return KeyOperationResult{}, err
	}
	return KeyOperationResult{Result: NewValue(out)}, nil
}

// Encrypt encrypts plaintext: with an RSA key's public part (RSA-OAEP,
// RSA-OAEP-256, RSA1_5) or with an oct key (A*GCM, A*CBC, A*CBCPAD; p
// carries their iv and aad, and the result their iv, tag and aad).
func (s *Service) Encrypt(ctx context.Context, c Caller, vault, name, version, alg string, plaintext Value, p SymmetricParams) (KeyOperationResult, error) {
	return s.materialOp(ctx, c, vault, name, version, PermKeysEncrypt, OpEncrypt, func(m keyMaterial) (KeyOperationResult, error) {
		if m.signer == nil {
			return aesEncrypt(m.secret, alg, plaintext.Bytes(), p)
		}
		if err := rsaOnly(alg, p); err != nil {
			return KeyOperationResult{}, err
		}
		return rsaResult(rsaEncrypt(m.signer, alg, plaintext.Bytes()))
	})
}

// Decrypt decrypts ciphertext with the private or oct key.
func (s *Service) Decrypt(ctx context.Context, c Caller, vault, name, version, alg string, ciphertext []byte, p SymmetricParams) (KeyOperationResult, error) {
	return s.materialOp(ctx, c, vault, name, version, PermKeysDecrypt, OpDecrypt, func(m keyMaterial) (KeyOperationResult, error) {
		if m.signer == nil {
			return aesDecrypt(m.secret, alg, ciphertext, p)
		}
		if err := rsaOnly(alg, p); err != nil {
			return KeyOperationResult{}, err
		}
		return rsaResult(rsaDecrypt(m.signer, alg, ciphertext))
	})
}

// WrapKey encrypts a symmetric key: with an RSA key's public part, or with
// an oct key by AES key wrap (A128KW, A192KW, A256KW; RFC 3394).
func (s *Service) WrapKey(ctx context.Context, c Caller, vault, name, version, alg string, key Value, p SymmetricParams) (KeyOperationResult, error) {
	return s.materialOp(ctx, c, vault, name, version, PermKeysWrap, OpWrapKey, func(m keyMaterial) (KeyOperationResult, error) {
		if m.signer == nil {
			return aesWrap(m.secret, alg, key.Bytes(), p)
		}
		if err := rsaOnly(alg, p); err != nil {
			return KeyOperationResult{}, err
		}
		return rsaResult(rsaEncrypt(m.signer, alg, key.Bytes()))
	})
}

// UnwrapKey decrypts a wrapped symmetric key with the private or oct key.
func (s *Service) UnwrapKey(ctx context.Context, c Caller, vault, name, version, alg string, wrapped []byte, p SymmetricParams) (KeyOperationResult, error) {
	return s.materialOp(ctx, c, vault, name, version, PermKeysUnwrap, OpUnwrapKey, func(m keyMaterial) (KeyOperationResult, error) {
		if m.signer == nil {
			return aesUnwrap(m.secret, alg, wrapped, p)
		}
		if err := rsaOnly(alg, p); err != nil {
			return KeyOperationResult{}, err
		}
		return rsaResult(rsaDecrypt(m.signer, alg, wrapped))
	})
}
