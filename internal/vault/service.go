package vault

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/portcullis/portcullis/guard"
	"github.com/portcullis/portcullis/internal/audit"
	"github.com/portcullis/portcullis/internal/ratelog"
	"github.com/portcullis/portcullis/internal/seal"
	"github.com/portcullis/portcullis/internal/store"
)

// Sealer seals and opens values at rest; *seal.Sealer and *seal.Keyring
// (which also opens blobs of previous root keys, for rotation) implement it.
type Sealer interface {
	Seal(plaintext, aad []byte) ([]byte, error)
	Open(sealed, aad []byte) ([]byte, error)
	// RootKeyID names the root key Seal uses.
	RootKeyID() string
}

// Config is what New needs. Store and Sealer are required.
type Config struct {
	Store  Store
	Sealer Sealer
	// Now is the clock; time.Now when nil. Tests inject their own.
	Now func() time.Time
	// Logger receives operational messages (never values); slog.Default when nil.
	Logger *slog.Logger
	// Notifier delivers certificate lifetime notifications; when nil they
	// go to a LogNotifier on Logger.
	Notifier Notifier
	// Registerer, when not nil, receives the certificate expiry metrics:
	// per vault, the soonest expiry and the certificates by expiry bucket.
	Registerer prometheus.Registerer
	// MetricsObjectNames adds the per-certificate expiry gauge, labelled
	// with vault and certificate name, to what Registerer receives. Off by
	// default: names are customer data and one series per object is
	// unbounded.
	MetricsObjectNames bool
	// AuditFlushInterval is the longest a read's audit record waits in
	// memory before it is committed; DefaultAuditFlushInterval when zero.
	AuditFlushInterval time.Duration
	// AuditQueueSize bounds the audit records waiting in memory;
	// DefaultAuditQueueSize when zero.
	AuditQueueSize int
	// CacheRevalidate is how long read operations use cached vault
	// settings and role assignments before the store's revision is read
	// again (the bound on how late they see changes made by other nodes);
	// DefaultCacheRevalidate when zero, no caching when negative.
	CacheRevalidate time.Duration
	// AuditSpoolDir, when set, is the directory of the audit spool: read
	// records that cannot be committed because the store is unavailable
	// are appended to a file there (fsynced) and replayed into the store,
	// in order, when it answers again. Without it, the queue holds them
	// (and, once full, reads are refused with 503).
	AuditSpoolDir string
	// HeldReadMaxAge is how old an answer of the store may be and still
	// serve a read while the store is unavailable (see "Outages" in the
	// package documentation); DefaultHeldReadMaxAge when zero, never when
	// negative.
	HeldReadMaxAge time.Duration
}

// Caller is who a vault operation acts for: the guard.Principal that
// authenticated the request (the vault's RBAC reads its AppID, ObjectID and
// Roles: a role value naming a built-in role grants that role on every
// vault, admin consent on the vault resource), the request id for the
// audit log, and Admin for the Portcullis administrator (admin API, CLI),
// who is allowed everything.
type Caller struct {
	guard.Principal
	RequestID string
	Admin     bool
}

// principal names the caller in messages.
func (c Caller) principal() string {
	switch {
	case c.AppID != "":
		return c.AppID
	case c.ObjectID != "":
		return c.ObjectID
	case c.Admin:
		return "portcullis-admin"
	}
	return "anonymous"
}

// internalCaller is how internal consumers (Resolve, lifetime actions) appear in the audit log.
var internalCaller = Caller{Principal: guard.Principal{AppID: "portcullis"}, Admin: true}

// Service is the vault: every operation on vaults, secrets, certificates and
// keys, with RBAC, audit, sealing and Key Vault semantics. It is safe for
// concurrent use.
type Service struct {
	store    Store
	held     *heldStore // store, answering read operations from memory while it is unavailable
	sealer   atomic.Pointer[sealerBox]
	now      func() time.Time
	log      *slog.Logger
	notifier Notifier
	expiry   *prometheus.GaugeVec
	rekeyMu  sync.Mutex
	audit    *auditWriter
	cache    *authCache
	pace     *ratelog.Limiter // log lines of repeated failures (an outage)
	// heldServed counts reads answered from memory while the store was unavailable.
	heldServed atomic.Int64
	// ops counts certificate operations issuing in the background.
	ops sync.WaitGroup
}

type sealerBox struct{ Sealer }

// New returns a Service over cfg.Store.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil {
		return nil, errors.New("vault: Config.Store is required")
	}
	if cfg.Sealer == nil || cfg.Sealer.RootKeyID() == "" {
		return nil, errors.New("vault: Config.Sealer with a root key is required")
	}
	if cfg.AuditFlushInterval < 0 || cfg.AuditFlushInterval > time.Second {
		return nil, fmt.Errorf("vault: Config.AuditFlushInterval %s: want 0 (the default, %s) up to 1s", cfg.AuditFlushInterval, DefaultAuditFlushInterval)
	}
	if cfg.AuditQueueSize < 0 {
		return nil, fmt.Errorf("vault: Config.AuditQueueSize %d: want 0 (the default, %d) or more", cfg.AuditQueueSize, DefaultAuditQueueSize)
	}
	s := &Service{store: cfg.Store, now: cfg.Now, log: cfg.Logger, notifier: cfg.Notifier}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.notifier == nil {
		s.notifier = LogNotifier{Logger: s.log}
	}
	s.sealer.Store(&sealerBox{cfg.Sealer})
	s.pace = ratelog.New(s.log, ratelog.DefaultInterval, nil)
	maxAge := cfg.HeldReadMaxAge
	if maxAge == 0 {
		maxAge = DefaultHeldReadMaxAge
	}
	if maxAge > 0 {
		s.held = newHeldStore(cfg.Store, s.now, maxAge, DefaultHeldReadEntries, func() { s.heldServed.Add(1) })
		s.store = s.held
	}
	ttl := cfg.CacheRevalidate
	if ttl == 0 {
		ttl = DefaultCacheRevalidate
	}
	s.cache = newAuthCache(s.store, s.now, ttl)
	s.expiry = newExpiryGauge()
	if cfg.Registerer != nil {
		ec := &expiryCollector{gauge: s.expiry, objectNames: cfg.MetricsObjectNames, now: s.now}
		if err := cfg.Registerer.Register(ec); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, fmt.Errorf("vault: register metrics: %w", err)
			}
			if existing, ok := are.ExistingCollector.(*expiryCollector); ok {
				s.expiry = existing.gauge
			}
		}
	}
	var spool *auditSpool
	if cfg.AuditSpoolDir != "" {
		var err error
		if spool, err = openAuditSpool(cfg.AuditSpoolDir, s.log); err != nil {
			return nil, fmt.Errorf("vault: Config.AuditSpoolDir: %w", err)
		}
	}
	s.audit = newAuditWriter(cfg.Store, s.log, s.pace, cfg.AuditFlushInterval, cfg.AuditQueueSize, spool)
	return s, nil
}

// ExpiryGauge returns the per-certificate expiry gauge the service keeps
// (labels vault and name). It is exported through Config.Registerer only
// with Config.MetricsObjectNames; tests read it directly.
func (s *Service) ExpiryGauge() *prometheus.GaugeVec { return s.expiry }

func (s *Service) currentSealer() Sealer { return s.sealer.Load().Sealer }

// op is one audited operation.
type op struct {
	s       *Service
	ctx     context.Context
	c       Caller
	vault   string
	typ     ObjectType
	name    string
	version string
	perm    Permission
	// change, when not nil, is the audit.Change of ctx this operation
	// claimed: the store writes its record in the change's transaction.
	change *audit.Change
}

// begin starts an audited operation; end must be deferred with the
// method's error. An operation that may change something claims the
// audit.Change its context carries (the Key Vault API and the admin API
// put one in every request's context), so that its record is committed in
// the same transaction as the change.
func (s *Service) begin(ctx context.Context, c Caller, vault string, typ ObjectType, name, version string, perm Permission) *op {
	o := &op{s: s, ctx: ctx, c: c, vault: strings.ToLower(vault), typ: typ, name: name, version: version, perm: perm}
	if !perm.readOnly() {
		if ch := audit.ChangeFrom(ctx); ch.Claim(o, o.record(), s.now, false) {
			o.change = ch
		}
	}
	return o
}

// record is the operation's audit record as a success.
func (o *op) record() audit.Record {
	return audit.Record{
		RequestID: o.c.RequestID, TenantID: o.c.TenantID, AppID: o.c.principal(), ObjectID: o.c.ObjectID,
		Vault: o.vault, Type: string(o.typ), Name: o.name, Version: o.version, Operation: string(o.perm), Outcome: OutcomeSuccess,
	}
}

// end records the outcome and turns any error into a *Error.
func (o *op) end(errp *error) {
	rec := AuditRecord{
		Time: o.s.now().UTC(), RequestID: o.c.RequestID, TenantID: o.c.TenantID, AppID: o.c.principal(), ObjectID: o.c.ObjectID,
		Vault: o.vault, Type: o.typ, Name: o.name, Version: o.version, Operation: string(o.perm), Outcome: OutcomeSuccess,
	}
	if *errp != nil {
		e := AsError(*errp)
		if e.Kind == KindInternal {
			o.s.log.Error("vault operation failed", "operation", o.perm, "vault", o.vault, "type", o.typ, "name", o.name, "request_id", o.c.RequestID, "error", e.Err)
		}
		*errp = e
		rec.Outcome, rec.Code = OutcomeFailed, e.Code
		if e.InnerCode == innerForbiddenByRbac {
			rec.Outcome = OutcomeDenied
		}
	}
	// A change's record committed with the change when the store took it
	// from the context; a failure after that adds a second, failed record.
	// When no commit is known to have taken it, the change's transaction
	// may still have committed (its COMMIT failed on a cut connection):
	// the record appended here keeps the claimed record's ID, so that the
	// store keeps the one that committed with the change, or else this.
	if o.change != nil {
		claimed, _ := o.change.Record(o)
		written, held := o.change.Release(o)
		if written && *errp == nil {
			return
		}
		if !written && held {
			rec.ID = claimed.ID
		}
	}
	// Otherwise a change is audited before it is acknowledged; a read's
	// record is committed by the writer within the flush interval (or
	// spooled). The request's context bounds only the wait for room in the
	// queue: a read whose record finds no room in time is refused, never
	// answered unaudited.
	if err := o.s.audit.append(o.ctx, rec, !o.perm.readOnly()); err != nil {
		if !o.perm.readOnly() && *errp == nil {
			// A change that stands without its record: every one is logged.
			o.s.log.Error("vault audit record of a change could not be written; it is in this log line only", "operation", o.perm, "vault", o.vault,
				"type", o.typ, "name", o.name, "version", o.version, "app_id", rec.AppID, "request_id", o.c.RequestID, "error", err)
			return
		}
		o.s.pace.Error("vault-audit-append", "vault audit record not queued", "operation", o.perm, "vault", o.vault, "request_id", o.c.RequestID, "error", err)
		if o.perm.readOnly() && *errp == nil {
			*errp = &Error{Kind: KindUnavailable, Code: CodeServiceUnavailable, Err: err,
				Message: "The vault cannot record this read in its audit log right now (its database is unavailable and the audit queue is full); retry in a few seconds."}
		}
	}
}

const innerForbiddenByRbac = "ForbiddenByRbac"

// getVault loads a vault or answers VaultNotFound; cached serves it from
// the cache (read operations only).
func (s *Service) getVault(ctx context.Context, name string, cached bool) (Vault, error) {
	v, err := s.vaultRecord(ctx, name, cached)
	if errors.Is(err, store.ErrNotFound) {
		return Vault{}, &Error{Kind: KindNotFound, Code: CodeVaultNotFound, Message: fmt.Sprintf("vault %q does not exist", name)}
	}
	if err != nil {
		return Vault{}, internal(err, "read vault %q", name)
	}
	return v, nil
}

// authorize loads the vault and checks that the caller holds o.perm on it,
// or on target ("TYPE/NAME", "" for vault-level operations).
func (o *op) authorize(target string, managed bool) (Vault, error) {
	v, err := o.s.getVault(o.ctx, o.vault, o.perm.readOnly())
	if err != nil {
		return Vault{}, err
	}
	if err := o.s.check(o.ctx, o.c, v.Name, o.perm, target, managed); err != nil {
		return Vault{}, err
	}
	return v, nil
}

// check answers whether c holds perm on vault (or on target within it).
// Read operations use cached role assignments; the others read the store.
func (s *Service) check(ctx context.Context, c Caller, vault string, perm Permission, target string, managed bool) error {
	if c.Admin {
		return nil
	}
	for _, r := range c.Roles {
		if def, ok := LookupRole(r); ok && def.Allows(perm) {
			return nil
		}
	}
	for _, id := range []string{c.AppID, c.ObjectID} {
		if id == "" {
			continue
		}
		as, err := s.roleAssignments(ctx, vault, id, perm.readOnly())
		if err != nil {
			return internal(err, "read role assignments")
		}
		for _, a := range as {
			if def, ok := LookupRole(a.Role); ok && def.Allows(perm) && scopeCovers(a.Scope, target, managed) {
				return nil
			}
		}
	}
	role := suggestRole(perm)
	who := c.principal()
	hint := fmt.Sprintf("portcullis vault role assign --app %s --role %q --vault %s", who, role, vault)
	return &Error{Kind: KindForbidden, Code: CodeForbidden, InnerCode: innerForbiddenByRbac, Message: fmt.Sprintf(
		"caller %s lacks permission %s on vault %s; assign the role %q (%s)", who, perm, vault, role, hint)}
}

// newVersionID returns a random 32-hex version id, as Key Vault's.
func newVersionID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", internal(err, "random version id")
	}
	return hex.EncodeToString(b), nil
}

// aad binds a sealed blob to its vault, type, name and version.
func aad(vault string, typ ObjectType, name, version string) []byte {
	return []byte("portcullis/vault/v1\x00" + strings.ToLower(vault) + "\x00" + string(typ) + "\x00" + foldName(name) + "\x00" + version)
}

func (s *Service) seal(v *ObjectVersion, plaintext []byte) error {
	b, err := s.currentSealer().Seal(plaintext, aad(v.Vault, v.Type, v.Name, v.Version))
	if err != nil {
		return internal(err, "seal %s %q", v.Type.singular(), v.Name)
	}
	v.Sealed = b
	return nil
}

func (s *Service) open(v ObjectVersion) ([]byte, error) {
	pt, err := s.currentSealer().Open(v.Sealed, aad(v.Vault, v.Type, v.Name, v.Version))
	if errors.Is(err, seal.ErrRootKeyMismatch) {
		// Not a client mistake and not a bug: the operator has to give
		// this node the root key; the message names its id, never a key.
		return nil, &Error{Kind: KindUnavailable, Code: CodeServiceUnavailable,
			Message: fmt.Sprintf("%s %q version %s cannot be opened on this node: %v", v.Type.singular(), v.Name, v.Version, err), Err: err}
	}
	if err != nil {
		return nil, internal(err, "open %s %q version %s", v.Type.singular(), v.Name, v.Version)
	}
	return pt, nil
}

// Attributes are the Key Vault attributes of an object version.
type Attributes struct {
	Enabled bool
	// NotBefore and Expires are zero when unset.
	NotBefore time.Time
	Expires   time.Time
	Created   time.Time
	Updated   time.Time
	// RecoveryLevel is Key Vault's deletion recovery level of the vault.
	RecoveryLevel string
	// RecoverableDays is the soft-delete retention.
	RecoverableDays int
}

// RecoveryLevel returns Key Vault's recoveryLevel string for the vault's settings.
func (v Vault) RecoveryLevel() string {
	level := "Recoverable+Purgeable"
	if v.PurgeProtection {
		level = "Recoverable"
	}
	if v.SoftDeleteRetentionDays < MaxRetentionDays {
		level = "CustomizedRecoverable" + strings.TrimPrefix(level, "Recoverable")
	}
	return level
}

func attributesOf(v Vault, ver ObjectVersion) Attributes {
	return Attributes{
		Enabled: ver.Enabled, NotBefore: ver.NotBefore, Expires: ver.Expires,
		Created: ver.Created, Updated: ver.Updated,
		RecoveryLevel: v.RecoveryLevel(), RecoverableDays: v.SoftDeleteRetentionDays,
	}
}

// Update changes the mutable attributes of one object version; nil fields
// are left as they are.
type Update struct {
	Enabled *bool
	// NotBefore and Expires set the dates; a pointer to the zero time clears one.
	NotBefore *time.Time
	Expires   *time.Time
	// ContentType applies to secrets only.
	ContentType *string
	// Tags replaces all tags when not nil (an empty map clears them).
	Tags map[string]string
	// KeyOps replaces a key's permitted operations when not nil (keys only).
	KeyOps []string
}

func (u Update) apply(ver *ObjectVersion, now time.Time) error {
	if u.Enabled != nil {
		ver.Enabled = *u.Enabled
	}
	if u.NotBefore != nil {
		ver.NotBefore = u.NotBefore.UTC()
	}
	if u.Expires != nil {
		ver.Expires = u.Expires.UTC()
	}
	if err := checkDates(ver.NotBefore, ver.Expires); err != nil {
		return err
	}
	if u.ContentType != nil {
		if err := validateContentType(*u.ContentType); err != nil {
			return err
		}
		ver.ContentType = *u.ContentType
	}
	if u.Tags != nil {
		if err := validateTags(u.Tags); err != nil {
			return err
		}
		ver.Tags = cloneTags(u.Tags)
	}
	ver.Updated = now
	return nil
}

func checkDates(nbf, exp time.Time) error {
	if !nbf.IsZero() && !exp.IsZero() && !exp.After(nbf) {
		return badRequest("expiry (exp %s) must be after the activation date (nbf %s)", exp.UTC().Format(time.RFC3339), nbf.UTC().Format(time.RFC3339))
	}
	return nil
}

// PageRequest asks for one page of a listing.
type PageRequest struct {
	// MaxResults is the page size, 1..25 (Key Vault's maxresults); 0 means 25.
	MaxResults int
	// After is the Next cursor of the previous page; "" for the first page.
	// It is a name or version id: kvapi should protect it in its nextLink.
	After string
}

// Page is one page of a listing; Next is "" on the last page.
type Page[T any] struct {
	Items []T
	Next  string
}

// MaxPageSize is Key Vault's largest maxresults.
const MaxPageSize = 25

func (p PageRequest) size() (int, error) {
	switch {
	case p.MaxResults == 0:
		return MaxPageSize, nil
	case p.MaxResults < 1 || p.MaxResults > MaxPageSize:
		return 0, badRequest("maxresults must be between 1 and %d, got %d", MaxPageSize, p.MaxResults)
	}
	return p.MaxResults, nil
}

// newAssignmentID returns a role assignment id.
func newAssignmentID() string { return uuid.NewString() }

// notFound builds Key Vault's not-found error for an object.
func notFound(typ ObjectType, name, version string) *Error {
	code := map[ObjectType]string{Secrets: CodeSecretNotFound, Keys: CodeKeyNotFound, Certificates: CodeCertificateNotFound}[typ]
	id := name
	if version != "" {
		id = name + "/" + version
	}
	msg := fmt.Sprintf("A %s with (name/id) %s was not found in this key vault. If you recently deleted this %s you may be able to recover it using the correct recovery command.", typ.singular(), id, typ.singular())
	return &Error{Kind: KindNotFound, Code: code, Message: msg}
}

func deletedNotFound(typ ObjectType, name string) *Error {
	code := map[ObjectType]string{Secrets: CodeSecretNotFound, Keys: CodeKeyNotFound, Certificates: CodeCertificateNotFound}[typ]
	return &Error{Kind: KindNotFound, Code: code, Message: fmt.Sprintf("Deleted %s %s was not found in this key vault.", typ.singular(), name)}
}

func deletedConflict(typ ObjectType, name string) *Error {
	return conflict(CodeObjectIsDeletedButRecoverable, "%s %s is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the %s can only be recovered or purged.", capitalize(typ.singular()), name, typ.singular())
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
