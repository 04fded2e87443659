// Package audit is the one audit log of Portcullis: its Record (a change
// to the directory or a vault, a vault read, a refused request), the Query
// that reads it, and Change, which carries the record of a change into the
// store transaction that makes the change, so that the change and its
// record commit together or not at all.
//
// The log is one table for every component (vault_audit, see package
// sqlstore): one order (Seq), one retention policy, one shipping cursor
// and one query surface (GET /admin/v1/audit, `portcullis audit`).
// Directory records have an empty Vault and Type "directory"; vault
// records keep the vault's own object types.
package audit

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Record is one audited event; it never holds a secret value.
type Record struct {
	// Seq is assigned by the store: the order of appends, newest highest.
	// It is 0 in a record not yet stored.
	Seq int64 `json:"seq"`
	// ID identifies the record from its creation, before the first
	// attempt to store it (NewRecordID): a write that is retried because
	// its commit may or may not have happened (a connection cut during
	// COMMIT, a spooled batch replayed) stores the record at most once.
	// It is internal to the store and not part of the API or the shipped
	// lines, where Seq names a record.
	ID        string    `json:"-"`
	Time      time.Time `json:"time"`
	RequestID string    `json:"requestId"`
	// TenantID, AppID and ObjectID name the caller (the actor).
	TenantID string `json:"tenantId"`
	AppID    string `json:"appId"`
	ObjectID string `json:"objectId"`
	// Vault is the vault the event is about; "" for directory changes.
	Vault string `json:"vault"`
	// Type is the kind of thing changed or read: a vault object type
	// ("secrets", "keys", "certificates"), "" for vault-level operations,
	// TypeDirectory for a change through the admin API.
	Type string `json:"type"`
	// Name is what the event is about: a vault object name, or the admin
	// API path of a directory change.
	Name    string `json:"name"`
	Version string `json:"version"`
	// Operation is what was done: a vault permission (e.g.
	// "secrets/setSecret") or, for a directory change, the admin route
	// (e.g. "POST /admin/v1/tenants/{tenant}/applications").
	Operation string `json:"operation"`
	Outcome   string `json:"outcome"` // OutcomeSuccess, OutcomeDenied, OutcomeFailed or OutcomeRefused
	Code      string `json:"code"`    // the error code (or HTTP status) when not a success
	// Reason says in words why a request was refused or failed; never a
	// credential.
	Reason string `json:"reason"`
}

// NewRecordID returns a new record identity: a UUIDv7, whose leading
// timestamp keeps the store's unique index on it appended at one end
// rather than written all over.
func NewRecordID() string {
	id, err := uuid.NewV7()
	if err != nil { // the system's random source failed
		return uuid.NewString()
	}
	return id.String()
}

// TypeDirectory is the Type of a change made through the admin API.
const TypeDirectory = "directory"

// Outcomes.
const (
	OutcomeSuccess = "success"
	OutcomeDenied  = "denied"
	OutcomeFailed  = "failed"
	OutcomeRefused = "refused"
)

// Query selects records. Zero fields do not filter. Records come newest
// first, unless AfterSeq is set: then oldest first (to follow the log).
type Query struct {
	From, To  time.Time // From <= Time < To
	TenantID  string
	Vault     string // compared case-insensitively
	AppID     string // the actor, compared case-insensitively
	Operation string // exact, or a prefix when it ends in "*"
	Outcome   string
	Name      string // compared case-insensitively
	// BeforeSeq pages backwards: only records with Seq < BeforeSeq.
	BeforeSeq int64
	// AfterSeq follows forwards: only records with Seq > AfterSeq, oldest first.
	AfterSeq int64
	Limit    int // 0 for all
}

// Change carries the audit record of the change a request or job is
// making. A Change is put in the context once per request (WithChange);
// the operation making a change claims it with its record; the store's
// write transaction takes the pending record (Pending), writes it in the
// same transaction, and marks it written once the transaction committed
// (Committed). The first committing transaction of the operation holds the
// record; later transactions of the same operation add none. An operation
// that finds the record unwritten when it ends (it failed before writing,
// or the store does not take records from the context) appends its own
// record the ordinary way.
//
// The methods of a nil *Change do nothing, so callers need not check.
type Change struct {
	mu      sync.Mutex
	owner   any
	yield   bool // the owner lets an inner operation claim the change
	rec     Record
	now     func() time.Time
	written bool
	created bool // Creates was called
}

type changeKey struct{}

// WithChange returns ctx carrying an unclaimed Change, or ctx itself when
// it carries one already.
func WithChange(ctx context.Context) context.Context {
	if ChangeFrom(ctx) != nil {
		return ctx
	}
	return context.WithValue(ctx, changeKey{}, &Change{})
}

// ChangeFrom returns the Change ctx carries, or nil.
func ChangeFrom(ctx context.Context) *Change {
	c, _ := ctx.Value(changeKey{}).(*Change)
	return c
}

// Claim makes owner the operation whose record rec the next committing
// write transaction holds, stamped with now() when it is taken. It fails
// (false) when another operation holds the change and does not yield (a
// nested operation: the outer one's record is the change's). With yield,
// a later Claim by an inner operation takes the change over (the admin
// API yields to the vault, whose record says more). A record without an
// ID gets one (NewRecordID): Pending and Record return it, so that the
// record an operation appends itself when it cannot tell whether its
// change committed (see Release) is the same record, stored once.
func (c *Change) Claim(owner any, rec Record, now func() time.Time, yield bool) bool {
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.owner != nil && !(c.yield && !c.written) {
		return false
	}
	if now == nil {
		now = time.Now
	}
	if rec.ID == "" {
		rec.ID = NewRecordID()
	}
	c.owner, c.rec, c.now, c.yield, c.written, c.created = owner, rec, now, yield, false, false
	return true
}

// Owner returns the operation holding the change, or nil.
func (c *Change) Owner() any {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.owner
}

// Describe fills in the name and version of what the change writes where
// the record names none yet (the version id of a new secret, the name of a
// restored backup, are known only just before they are stored).
func (c *Change) Describe(name, version string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.owner == nil || c.written {
		return
	}
	if c.rec.Name == "" {
		c.rec.Name = name
	}
	if c.rec.Version == "" {
		c.rec.Version = version
	}
}

// Creates records that the change creates an object called name in the
// collection its record names (a directory change: a POST to an admin API
// collection), so that the record names the object, PATH/name, not only
// its collection. Only the first call counts.
func (c *Change) Creates(name string) {
	if c == nil || name == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.owner == nil || c.written || c.created || c.rec.Type != TypeDirectory {
		return
	}
	c.rec.Name = strings.TrimSuffix(c.rec.Name, "/") + "/" + url.PathEscape(name)
	c.created = true
}

// Pending returns the record a write transaction about to commit must
// hold: the claimed record, not yet written, stamped with the current
// time. It may be called again when the transaction is retried.
func (c *Change) Pending() (Record, bool) {
	if c == nil {
		return Record{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.owner == nil || c.written {
		return Record{}, false
	}
	r := c.rec
	r.Time = c.now().UTC()
	return r, true
}

// Committed marks the pending record written: the transaction holding it
// committed.
func (c *Change) Committed() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.owner != nil {
		c.written = true
	}
}

// Record returns the record owner claimed the change with, as described
// since (Describe, Creates), and whether owner holds the change.
func (c *Change) Record(owner any) (Record, bool) {
	if c == nil {
		return Record{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.owner != owner {
		return Record{}, false
	}
	return c.rec, true
}

// Release ends owner's claim and reports whether its record was written
// in a transaction known to have committed (a transaction whose commit
// failed may have committed all the same: the record the owner appends
// then should keep the claimed record's ID, from Record, so that the
// store keeps one of the two), and whether owner still held the change
// (false when an inner operation took it over, or owner never held it).
// The Change is free for the next operation in the same context.
func (c *Change) Release(owner any) (written, held bool) {
	if c == nil {
		return false, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.owner != owner {
		return false, false
	}
	written = c.written
	c.owner, c.rec, c.now, c.yield, c.written, c.created = nil, Record{}, nil, false, false, false
	return written, true
}
