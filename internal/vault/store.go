package vault

import (
	"context"
	"errors"
	"time"
)

// Store errors; implementations wrap them with detail: store.ErrNotFound
// (the vault, object, version, assignment or reference does not exist),
// store.ErrConflict (a write would violate uniqueness or exclusivity), and
// ErrObjectDeleted below. The sentinels shared by every store live in
// package store only; this package does not alias them.
var (
	// ErrObjectDeleted means AddVersion targeted an object in the deleted state.
	ErrObjectDeleted = errors.New("object is deleted")
)

// ObjectType is the collection an object lives in, named as in Key Vault URLs.
type ObjectType string

// The object types.
const (
	Secrets      ObjectType = "secrets"
	Keys         ObjectType = "keys"
	Certificates ObjectType = "certificates"
)

// Valid reports whether t is one of the three object types.
func (t ObjectType) Valid() bool { return t == Secrets || t == Keys || t == Certificates }

// singular names one object of type t in messages ("secret").
func (t ObjectType) singular() string {
	switch t {
	case Secrets:
		return "secret"
	case Keys:
		return "key"
	case Certificates:
		return "certificate"
	}
	return string(t)
}

// Vault is a named container of objects with its own soft-delete settings.
type Vault struct {
	Name string
	// SoftDeleteRetentionDays is how long a deleted object stays recoverable (7..90).
	SoftDeleteRetentionDays int
	// PurgeProtection, once on, refuses purges until the retention has passed.
	PurgeProtection bool
	Created         time.Time
}

// Object is the version-independent state of one named object.
type Object struct {
	Vault   string
	Type    ObjectType
	Name    string // the case of its first creation; names compare case-insensitively
	Created time.Time
	// Deleted is set while the object is soft-deleted.
	Deleted *Deletion
	// Policy is a certificate's policy as JSON (see CertificatePolicy); nil otherwise.
	Policy []byte
}

// Deletion is the soft-delete state of an object.
type Deletion struct {
	DeletedAt        time.Time
	ScheduledPurgeAt time.Time
	// RecoveryID is the object's path in its deleted collection, e.g.
	// "deletedsecrets/name"; kvapi prefixes it with the vault URL.
	RecoveryID string
}

// ObjectVersion is one immutable version of an object; only its attributes
// (Enabled, NotBefore, Expires, ContentType, Tags, Updated, Meta's key
// operations) change after creation, and the sealed blob changes only by a
// rekey.
type ObjectVersion struct {
	// Seq orders versions: assigned by the store on insert, unique and
	// increasing across the whole store; the newest version of an object is
	// its highest Seq.
	Seq     int64
	Vault   string
	Type    ObjectType
	Name    string
	Version string // 32 lowercase hex characters
	Created time.Time
	Updated time.Time
	Enabled bool
	// NotBefore and Expires are zero when unset.
	NotBefore   time.Time
	Expires     time.Time
	ContentType string
	Tags        map[string]string
	// Sealed holds the secret value or the PKCS#8 private key, sealed with
	// an aad naming vault, type, name and version. Listings may leave it nil.
	Sealed []byte
	// Public holds a key's public JWK (JSON) or a certificate's DER.
	Public []byte
	// Meta is type-specific JSON the store keeps opaque.
	Meta []byte
}

// ObjectEntry is one row of a listing: the object and its newest version.
type ObjectEntry struct {
	Object Object
	Newest ObjectVersion
}

// ObjectQuery selects objects for ListObjects.
type ObjectQuery struct {
	// Deleted selects deleted objects instead of live ones.
	Deleted bool
	// After returns names that sort after this one (case-insensitively); "" from the start.
	After string
	// Limit caps the number of entries; 0 means no limit.
	Limit int
}

// AddOptions qualify AddVersion.
type AddOptions struct {
	// Exclusive lists object types whose object of the same name (live or
	// deleted) makes the insert fail with store.ErrConflict, e.g. a certificate
	// cannot be created over a secret of its name.
	Exclusive []ObjectType
	// Policy, when not nil, replaces the object's policy in the same transaction.
	Policy []byte
}

// SealedUpdate replaces one version's sealed blob during a rekey, only if it
// still holds Old.
type SealedUpdate struct {
	Seq int64
	Old []byte
	New []byte
}

// RoleAssignment grants a built-in role to a principal on a vault or on one
// object of it.
type RoleAssignment struct {
	ID    string
	Vault string
	// Scope is "" for the whole vault, or "secrets/NAME", "certificates/NAME", "keys/NAME".
	Scope string
	// PrincipalID is the caller's client id (appId) or object id.
	PrincipalID string
	Role        string
	Created     time.Time
}

// Reference records that Referrer (e.g. "gateway/route/orders") uses an object.
type Reference struct {
	Vault    string
	Type     ObjectType
	Name     string
	Version  string // "" for a version-less reference
	Referrer string
	Created  time.Time
}

// AuditRecord is one access to the vault; it never holds a value.
type AuditRecord struct {
	// ID identifies the record from its creation (audit.NewRecordID; the
	// audit writer gives one to a record without): the store keeps one
	// record per ID, so a batch written again after a commit that failed
	// but may have happened, or replayed from the spool, adds nothing
	// twice. Records stored before IDs existed have none.
	ID        string
	Time      time.Time
	RequestID string
	TenantID  string
	AppID     string
	ObjectID  string
	Vault     string
	Type      ObjectType // "" for vault-level operations
	Name      string
	Version   string
	Operation string // the permission, e.g. "secrets/getSecret"
	Outcome   string // "success", "denied", "failed" or "refused"
	Code      string // the error code when not a success
	// Reason says in words why a request was refused before any
	// operation (OutcomeRefused); never a credential.
	Reason string
}

// Audit outcomes.
const (
	OutcomeSuccess = "success"
	OutcomeDenied  = "denied"
	OutcomeFailed  = "failed"
	// OutcomeRefused: the request was refused before any operation (no or
	// bad credentials); Operation is OperationAuthenticate.
	OutcomeRefused = "refused"
)

// AuditQuery selects audit records, newest first.
type AuditQuery struct {
	Vault string // "" for every vault
	Limit int    // 0 for all
}

// LifetimeMarker records that a certificate lifetime action fired for one
// version and trigger, so that it fires once.
type LifetimeMarker struct {
	Vault   string
	Name    string
	Version string
	Action  string // "EmailContacts" or "AutoRenew"
	Trigger string // e.g. "lifetimePercentage=80" or "daysBeforeExpiry=30"
	Fired   time.Time
}

// SettingKind names a collection of per-vault settings.
type SettingKind string

// The setting kinds: certificate issuers (one per issuer name) and the
// certificate contacts (one setting, named ContactsSettingName).
const (
	SettingIssuers  SettingKind = "issuers"
	SettingContacts SettingKind = "contacts"
)

// Setting is a named per-vault record that is not a versioned object: a
// certificate issuer or the vault's certificate contacts. It holds no
// secret: Body is JSON the store keeps opaque.
type Setting struct {
	Vault string
	Kind  SettingKind
	// Name keeps the case of its first write; names compare case-insensitively.
	Name    string
	Body    []byte
	Created time.Time
	Updated time.Time
}

// Store persists vaults, objects and their versions, role assignments,
// references, audit records and lifetime-action markers. Every write is one
// transaction. Object and vault names compare case-insensitively (the stored
// Name keeps the case it was first written with). Nothing it holds is
// secret in clear: values and private keys arrive sealed.
//
// The conformance suite in package vaulttest states the contract precisely;
// vaulttest.NewMemoryStore is the reference implementation.
type Store interface {
	// CreateVault adds a vault; store.ErrConflict if the name exists.
	CreateVault(ctx context.Context, v Vault) error
	// GetVault returns a vault; store.ErrNotFound if absent.
	GetVault(ctx context.Context, name string) (Vault, error)
	// ListVaults returns all vaults ordered by name.
	ListVaults(ctx context.Context) ([]Vault, error)
	// UpdateVault loads the vault, calls mutate and writes the result in one
	// transaction; the name cannot change; mutate's error is returned as is.
	UpdateVault(ctx context.Context, name string, mutate func(*Vault) error) (Vault, error)
	// DeleteVault removes an empty vault with its role assignments and settings;
	// store.ErrConflict while it holds objects (live or deleted).
	DeleteVault(ctx context.Context, name string) error

	// AddVersion inserts a version, creating its object if needed, and
	// returns it with Seq assigned. It fails with ErrObjectDeleted if the
	// object is deleted, store.ErrConflict if the version id exists for the
	// object or an object of an opts.Exclusive type has the same name,
	// store.ErrNotFound if the vault does not exist. Concurrent AddVersion calls
	// for one name are serialised (whatever their type) and none is lost.
	AddVersion(ctx context.Context, v ObjectVersion, opts AddOptions) (ObjectVersion, error)
	// RestoreObject inserts obj as a new live object (its Created and Policy
	// kept) with vers in the given order, each assigned a Seq, in one
	// transaction, and returns the versions as stored. It fails with
	// ErrObjectDeleted if an object of the same type and name is deleted,
	// store.ErrConflict if one is live, if an object of an exclusive type
	// has the name (live or deleted) or if vers is empty or repeats a
	// version id, and store.ErrNotFound if the vault does not exist.
	RestoreObject(ctx context.Context, obj Object, vers []ObjectVersion, exclusive []ObjectType) ([]ObjectVersion, error)
	// GetObject returns an object's state, live or deleted; store.ErrNotFound if absent.
	GetObject(ctx context.Context, vault string, typ ObjectType, name string) (Object, error)
	// UpdateObject loads the object, calls mutate and writes the result in
	// one transaction (Deleted and Policy may change, identity cannot);
	// mutate's error is returned as is.
	UpdateObject(ctx context.Context, vault string, typ ObjectType, name string, mutate func(*Object) error) (Object, error)
	// ListObjects returns objects of one type, live or deleted per q, with
	// their newest version, ordered by case-folded name.
	ListObjects(ctx context.Context, vault string, typ ObjectType, q ObjectQuery) ([]ObjectEntry, error)
	// GetVersion returns one version (version "" = the newest) whether or
	// not the object is deleted; store.ErrNotFound if absent.
	GetVersion(ctx context.Context, vault string, typ ObjectType, name, version string) (ObjectVersion, error)
	// GetObjectVersion returns an object (live or deleted) together with
	// one of its versions (version "" = the newest), read consistently in
	// one query; store.ErrNotFound if the object or the version is absent.
	GetObjectVersion(ctx context.Context, vault string, typ ObjectType, name, version string) (Object, ObjectVersion, error)
	// ListVersions returns every version of an object, oldest first.
	ListVersions(ctx context.Context, vault string, typ ObjectType, name string) ([]ObjectVersion, error)
	// UpdateVersion loads a version, calls mutate and writes the mutable
	// fields back (Enabled, NotBefore, Expires, ContentType, Tags, Updated,
	// Meta) in one transaction; mutate's error is returned as is.
	UpdateVersion(ctx context.Context, vault string, typ ObjectType, name, version string, mutate func(*ObjectVersion) error) (ObjectVersion, error)
	// PurgeObject removes an object with all its versions and lifetime
	// markers; store.ErrNotFound if absent.
	PurgeObject(ctx context.Context, vault string, typ ObjectType, name string) error

	// ScanVersions returns up to limit versions of every vault with Seq >
	// afterSeq, ordered by Seq, Sealed included (for rekey).
	ScanVersions(ctx context.Context, afterSeq int64, limit int) ([]ObjectVersion, error)
	// ReplaceSealed applies the updates in one transaction, each only where
	// the version still holds Old, and returns how many were applied.
	ReplaceSealed(ctx context.Context, updates []SealedUpdate) (int, error)

	// CreateRoleAssignment adds an assignment; store.ErrConflict if the same
	// vault, scope, principal and role exist or the id is taken;
	// store.ErrNotFound if the vault does not exist.
	CreateRoleAssignment(ctx context.Context, a RoleAssignment) error
	// ListRoleAssignments returns a vault's assignments ordered by creation,
	// only principalID's when it is not "".
	ListRoleAssignments(ctx context.Context, vault, principalID string) ([]RoleAssignment, error)
	// DeleteRoleAssignment removes one assignment; store.ErrNotFound if absent.
	DeleteRoleAssignment(ctx context.Context, vault, id string) error

	// AddReference records a reference; recording the same vault, type,
	// name, version and referrer again is a no-op.
	AddReference(ctx context.Context, r Reference) error
	// RemoveReference removes the reference with r's vault, type, name,
	// version and referrer; store.ErrNotFound if absent.
	RemoveReference(ctx context.Context, r Reference) error
	// ListReferences returns the references to an object (any version),
	// ordered by creation.
	ListReferences(ctx context.Context, vault string, typ ObjectType, name string) ([]Reference, error)

	// AppendAudit appends audit records, in order, in one transaction:
	// all of them or none. A record whose ID is stored already (or
	// repeats an earlier one's) is left out and takes no seq, so a batch
	// may be written again when it is unknown whether its commit happened.
	AppendAudit(ctx context.Context, records ...AuditRecord) error
	// ListAudit returns audit records, newest first.
	ListAudit(ctx context.Context, q AuditQuery) ([]AuditRecord, error)

	// MarkLifetimeAction records m and reports true, or reports false if a
	// marker with the same vault, name, version, action and trigger exists.
	MarkLifetimeAction(ctx context.Context, m LifetimeMarker) (bool, error)
	// UnmarkLifetimeAction removes a marker (so that a failed delivery is
	// retried by the next run); absent markers are not an error.
	UnmarkLifetimeAction(ctx context.Context, m LifetimeMarker) error

	// PutSetting writes a setting, creating it or replacing its Body and
	// Updated (its Name and Created stay those of its first write), and
	// returns it as stored; store.ErrNotFound if the vault does not exist.
	PutSetting(ctx context.Context, st Setting) (Setting, error)
	// CreateSetting writes a new setting and returns it as stored;
	// store.ErrConflict if one of that vault, kind and name exists,
	// store.ErrNotFound if the vault does not exist.
	CreateSetting(ctx context.Context, st Setting) (Setting, error)
	// GetSetting returns a setting; store.ErrNotFound if absent.
	GetSetting(ctx context.Context, vault string, kind SettingKind, name string) (Setting, error)
	// UpdateSetting loads a setting, calls mutate and writes Body and
	// Updated back in one transaction; store.ErrNotFound if absent;
	// mutate's error is returned as is.
	UpdateSetting(ctx context.Context, vault string, kind SettingKind, name string, mutate func(*Setting) error) (Setting, error)
	// ListSettings returns a vault's settings of one kind ordered by
	// case-folded name.
	ListSettings(ctx context.Context, vault string, kind SettingKind) ([]Setting, error)
	// DeleteSetting removes a setting and returns it as it was;
	// store.ErrNotFound if absent.
	DeleteSetting(ctx context.Context, vault string, kind SettingKind, name string) (Setting, error)

	// Revision returns a number that changes (it may also change
	// otherwise) whenever a vault, an object, a version, a role assignment
	// or a reference is written, by this process or any other on the same
	// database; audit records and lifetime markers need not change it. It
	// is cheap: the Service polls it to revalidate its caches.
	Revision(ctx context.Context) (int64, error)
}
