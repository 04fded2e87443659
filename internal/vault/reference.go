package vault

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/portcullis/portcullis/internal/store"
)

// Ref names a vault object for internal consumers (gateway routes,
// connectors, token clients): vault://VAULT/TYPE/NAME[/VERSION]. Without a
// version it means "the current version" as Resolve picks it.
type Ref struct {
	Vault   string
	Type    ObjectType
	Name    string
	Version string
}

// RefScheme is the scheme of vault references.
const RefScheme = "vault://"

// ParseReference parses "vault://VAULT/secrets|certificates|keys/NAME[/VERSION]"
// strictly: lower-case scheme, a valid vault name, one of the three types, a
// valid object name, an optional 32-hex-digit version, nothing else (no
// query, fragment, empty segment, trailing slash or escapes).
func ParseReference(s string) (Ref, error) {
	const form = "expected vault://VAULT/secrets|certificates|keys/NAME[/VERSION]"
	shown := s
	if len(shown) > 200 || !utf8.ValidString(shown) {
		shown = strings.ToValidUTF8(shown[:min(len(shown), 200)], "?") + "…"
	}
	if !strings.HasPrefix(s, RefScheme) {
		return Ref{}, badRequest("vault reference %q: %s", shown, form)
	}
	parts := strings.Split(s[len(RefScheme):], "/")
	if len(parts) < 3 || len(parts) > 4 {
		return Ref{}, badRequest("vault reference %q: %s", shown, form)
	}
	r := Ref{Vault: parts[0], Type: ObjectType(parts[1]), Name: parts[2]}
	if err := ValidateVaultName(r.Vault); err != nil {
		return Ref{}, badRequest("vault reference %q: %v", shown, err)
	}
	r.Vault = strings.ToLower(r.Vault)
	if !r.Type.Valid() {
		return Ref{}, badRequest("vault reference %q: unknown object type %q; %s", shown, strings.ToValidUTF8(parts[1], "?"), form)
	}
	if err := ValidateName(r.Name); err != nil {
		return Ref{}, badRequest("vault reference %q: %v", shown, err)
	}
	if len(parts) == 4 {
		if !isVersionID(parts[3]) {
			return Ref{}, badRequest("vault reference %q: the version must be 32 lower-case hex digits", shown)
		}
		r.Version = parts[3]
	}
	return r, nil
}

func isVersionID(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !(s[i] >= '0' && s[i] <= '9' || s[i] >= 'a' && s[i] <= 'f') {
			return false
		}
	}
	return true
}

// String returns the reference in the form ParseReference reads.
func (r Ref) String() string {
	s := RefScheme + r.Vault + "/" + string(r.Type) + "/" + r.Name
	if r.Version != "" {
		s += "/" + r.Version
	}
	return s
}

// Resolved is what Resolve returns; exactly one of Secret, Certificate, Key is set.
type Resolved struct {
	// Ref is the reference with the chosen Version filled in.
	Ref         Ref
	Secret      *Secret
	Certificate *ResolvedCertificate
	Key         *Key
}

// ResolvedCertificate is a certificate version with its private key, for
// in-process consumers (a gateway presenting a client certificate).
type ResolvedCertificate struct {
	Certificate Certificate
	Leaf        *x509.Certificate
	Chain       []*x509.Certificate
	PrivateKey  crypto.Signer
}

// Resolve returns the object a reference names, for internal consumers (no
// RBAC; audited as "portcullis"). Without a version it picks the newest
// version that is enabled, whose nbf has passed and that has not expired
// (seed 000's certificate-rollover rule); with a version, that version if it
// is enabled. A secrets reference to a certificate's name resolves to the
// certificate's secret (PFX or PEM); a keys reference yields the public key.
func (s *Service) Resolve(ctx context.Context, ref Ref) (out Resolved, err error) {
	perm := map[ObjectType]Permission{Secrets: PermSecretsGet, Certificates: PermSecretsGet, Keys: PermKeysRead}[ref.Type]
	o := s.begin(ctx, internalCaller, ref.Vault, ref.Type, ref.Name, ref.Version, perm)
	defer o.end(&err)
	if !ref.Type.Valid() {
		return Resolved{}, badRequest("reference %s: unknown object type", ref)
	}
	if err := ValidateName(ref.Name); err != nil {
		return Resolved{}, err
	}
	v, err := s.getVault(ctx, ref.Vault, true)
	if err != nil {
		return Resolved{}, err
	}
	storedType := ref.Type
	if _, ok, err := s.getObject(ctx, v.Name, ref.Type, ref.Name); err != nil {
		return Resolved{}, err
	} else if !ok && ref.Type != Certificates {
		storedType = Certificates // the secret or key view of a certificate
	}
	ver, err := s.pickVersion(ctx, v.Name, storedType, ref)
	if err != nil {
		return Resolved{}, err
	}
	o.version = ver.Version
	out.Ref = ref
	out.Ref.Version = ver.Version
	switch {
	case ref.Type == Secrets && storedType == Certificates:
		sec, err := s.certificateAsSecret(v, ver, true)
		if err != nil {
			return Resolved{}, err
		}
		out.Secret = &sec
	case ref.Type == Secrets:
		value, err := s.open(ver)
		if err != nil {
			return Resolved{}, err
		}
		sec := secretOf(v, ver, value)
		out.Secret = &sec
	case ref.Type == Keys:
		k, err := s.entryAsKey(v, ObjectEntry{Object: Object{Type: storedType, Name: ver.Name}, Newest: ver})
		if err != nil {
			return Resolved{}, err
		}
		out.Key = &k
	default:
		leaf, chain, key, _, err := s.certificateParts(ver)
		if err != nil {
			return Resolved{}, err
		}
		cert, err := s.certificateOf(v, ver)
		if err != nil {
			return Resolved{}, err
		}
		out.Certificate = &ResolvedCertificate{Certificate: cert, Leaf: leaf, Chain: chain, PrivateKey: key}
	}
	return out, nil
}

// pickVersion applies the resolution rule.
func (s *Service) pickVersion(ctx context.Context, vault string, typ ObjectType, ref Ref) (ObjectVersion, error) {
	if ref.Version != "" {
		_, ver, err := s.liveVersion(ctx, vault, typ, ref.Name, ref.Version)
		if err != nil {
			return ObjectVersion{}, err
		}
		if !ver.Enabled {
			return ObjectVersion{}, forbidden("", "%s %s version %s is disabled", capitalize(ref.Type.singular()), ref.Name, ref.Version)
		}
		return ver, nil
	}
	vers, err := s.listVersions(ctx, vault, typ, ref.Name)
	if err != nil {
		if IsKind(err, KindNotFound) {
			return ObjectVersion{}, notFound(ref.Type, ref.Name, "")
		}
		return ObjectVersion{}, err
	}
	sort.Slice(vers, func(i, j int) bool { return vers[i].Seq > vers[j].Seq })
	now := s.now()
	for _, ver := range vers {
		if activeAt(ver, now) {
			return ver, nil
		}
	}
	e := notFound(ref.Type, ref.Name, "")
	e.Message = fmt.Sprintf("%s %s has no version that is enabled, started (nbf) and not expired (exp) at %s", capitalize(ref.Type.singular()), ref.Name, now.UTC().Format("2006-01-02T15:04:05Z"))
	return ObjectVersion{}, e
}

// MaxReferrerLength bounds a referrer's name.
const MaxReferrerLength = 256

// AddReference records that referrer (e.g. "gateway/route/orders") uses the
// object ref names, so that deleting or purging it is refused; the object
// (and the version, if given) must exist and not be deleted.
func (s *Service) AddReference(ctx context.Context, ref Ref, referrer string) error {
	if err := checkReferrer(referrer); err != nil {
		return err
	}
	if _, err := ParseReference(ref.String()); err != nil {
		return err
	}
	v, err := s.getVault(ctx, ref.Vault, false)
	if err != nil {
		return err
	}
	_, _, err = s.liveVersion(ctx, v.Name, ref.Type, ref.Name, ref.Version)
	if IsKind(err, KindNotFound) && ref.Type != Certificates {
		if _, _, cerr := s.liveVersion(ctx, v.Name, Certificates, ref.Name, ref.Version); cerr == nil {
			err = nil
		}
	}
	if err != nil {
		return err
	}
	r := Reference{Vault: v.Name, Type: ref.Type, Name: ref.Name, Version: ref.Version, Referrer: referrer, Created: s.now().UTC()}
	if err := s.store.AddReference(ctx, r); err != nil {
		return internal(err, "add reference")
	}
	return nil
}

// RemoveReference deletes a reference AddReference recorded.
func (s *Service) RemoveReference(ctx context.Context, ref Ref, referrer string) error {
	if err := checkReferrer(referrer); err != nil {
		return err
	}
	err := s.store.RemoveReference(ctx, Reference{Vault: strings.ToLower(ref.Vault), Type: ref.Type, Name: ref.Name, Version: ref.Version, Referrer: referrer})
	if errors.Is(err, store.ErrNotFound) {
		return &Error{Kind: KindNotFound, Code: CodeNotFound, Message: fmt.Sprintf("%s holds no reference to %s", referrer, ref)}
	}
	if err != nil {
		return internal(err, "remove reference")
	}
	return nil
}

// ListReferences returns the references to the object ref names (any version).
func (s *Service) ListReferences(ctx context.Context, ref Ref) ([]Reference, error) {
	out, err := s.store.ListReferences(ctx, strings.ToLower(ref.Vault), ref.Type, ref.Name)
	if err != nil {
		return nil, internal(err, "list references")
	}
	return out, nil
}

func checkReferrer(referrer string) error {
	if referrer == "" || len(referrer) > MaxReferrerLength || !utf8.ValidString(referrer) {
		return badRequest("a referrer must be 1-%d characters of valid UTF-8 naming who uses the object (e.g. gateway/route/orders)", MaxReferrerLength)
	}
	return nil
}

// Revision returns a number that moves whenever a vault, an object, a
// version, a role assignment or a reference is written (Store.Revision):
// a cheap signal for consumers that keep resolved values (the gateway) to
// resolve again.
func (s *Service) Revision(ctx context.Context) (int64, error) { return s.store.Revision(ctx) }
