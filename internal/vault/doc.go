// Package vault is Portcullis's Key Vault-compatible vault domain: vaults,
// secrets, certificates and keys with immutable versions, soft delete,
// role-based access, audit, encryption at rest, lifetime actions and the
// vault:// reference resolver. It holds no HTTP code: package kvapi maps
// Service methods and *Error values to Key Vault's REST shapes, and the CLI
// and admin API call the same methods.
//
// # Main types
//
//   - Service (built by New from a Config) does every operation. Each
//     method takes the Caller, checks its role (RBAC) itself and appends an
//     AuditRecord (caller, vault, object, version, operation, outcome,
//     request id — never a value).
//   - Store is the persistence seam (SQLite and PostgreSQL implement it;
//     vaulttest.Run is its conformance suite, vaulttest.NewMemoryStore the
//     in-memory fake).
//   - *Error carries Kind (→ HTTP status), Key Vault's Code and InnerCode,
//     and a message; secret material travels as Value, which prints as
//     "[redacted]".
//
// # Key Vault semantics and the choices made
//
//   - Names: objects 1-127 of letters, digits and dashes (ValidateName),
//     compared case-insensitively; vaults 3-24 characters (Azure's rule),
//     stored lower-case. "default" always exists (EnsureDefault).
//   - Versions are 32-hex random ids; the store orders them (Seq). A
//     version-less Get returns the newest version; a disabled version is
//     refused ("Operation get is not allowed on a disabled secret."), but
//     nbf/exp are not enforced on Get, as in Key Vault. Resolve applies the
//     rollover rule: the newest version that is enabled, started and not
//     expired.
//   - Soft delete covers the whole object; while deleted its name cannot be
//     reused (Conflict, inner code ObjectIsDeletedButRecoverable); purge is
//     refused under purge protection until the scheduled purge date;
//     PurgeExpiredDeletions purges what is due.
//   - A certificate is stored once; its secret and key (same name and
//     version) are views of it, marked Managed: listed with secrets and
//     keys, readable, usable for crypto operations, but written, deleted,
//     recovered and purged only through the certificate. A certificate's
//     name must be free among secrets and keys, and vice versa. The secret
//     value is the PFX (base64, no password) or PEM (key first) per the
//     policy's content type, generated from the sealed PKCS#8 key at read
//     time; without the key when the policy says the key is not exportable.
//   - Certificates are created self-signed only (issuer "Self"),
//     synchronously; the returned CertificateOperation is already
//     "completed". Imported certificates get issuer "Unknown" and a policy
//     derived from the certificate.
//   - RBAC: role assignments name a principal (client appId or object id),
//     a vault and a scope ("" or TYPE/NAME); the built-in roles and their
//     permissions are data (Roles). An assignment scoped to certificates/X
//     also covers the secret and key views of X. Token roles that name a
//     built-in role grant it on every vault. A denial names the operation
//     and the least role that allows it. Listing needs a vault-scoped role.
//   - Crypto operations take the digest (sign/verify) as Key Vault does;
//     sign, encrypt and wrapKey are refused outside nbf/exp, verify,
//     decrypt and unwrapKey are not (Key Vault's rule). Private keys never
//     leave the vault except to in-process consumers through Resolve.
//   - Encryption at rest: every value and private key is sealed by the
//     Sealer with an aad binding vault, type, name and version, so blobs
//     cannot be swapped between objects. Rekey rotates the root key.
//   - Backup (BackupSecret, BackupKey, BackupCertificate) seals an object
//     with every version under the root key into a versioned blob bound to
//     its type (backup.go); Restore* re-seals it into any vault of an
//     instance holding that root key, keeping version ids and order, and
//     refuses a name in use (live: Conflict; soft-deleted: Conflict with
//     ObjectIsDeletedButRecoverable) in one store transaction
//     (Store.RestoreObject). GetSecretAs converts a certificate's secret
//     to PEM or PKCS#12 (outContentType); RandomBytes serves /rng.
//   - Lifetime actions (RunLifetimeActions) fire once per certificate
//     version and trigger, with a marker in the store; EmailContacts goes
//     to the Notifier (LogNotifier, WebhookNotifier with an HMAC-SHA256
//     signature header, MultiNotifier), AutoRenew issues a new version with
//     the same policy. Metrics follow each certificate's current expiry
//     per vault: portcullis_vault_certificate_soonest_expiry_timestamp_seconds{vault}
//     and portcullis_vault_certificates{vault,expires}; the per-object
//     gauge portcullis_vault_certificate_expiry_timestamp_seconds{vault,name}
//     only with Config.MetricsObjectNames.
//   - Keys are RSA, EC (P-256, P-384, P-521, P-256K through decred's
//     secp256k1) or oct (AES, keyMaterial; A*GCM, A*CBC(PAD), A*KW in
//     symmetric.go). RotateKey makes a version like the newest one; a key's
//     rotation policy (KeyRotationPolicy, in Object.Policy, ISO 8601
//     durations) runs in the same RunLifetimeActions pass, once per newest
//     version and trigger, Rotate and Notify through the same Notifier.
//   - Ids and URLs (kid, sid, x5t links, recovery ids, nextLink) are built
//     by kvapi from Vault, Name and Version; paging cursors (Page.Next) are
//     plain names or version ids that kvapi must protect against tampering.
//
// # Audit
//
// Every operation, allowed, denied or failed, appends one AuditRecord
// through a single FIFO queue with one background writer, so the log keeps
// the order in which operations ended:
//
//   - An operation that may change something (any permission other than
//     the read-only ones below: set, update, delete, recover, purge,
//     create, import, role assignments, vault settings) waits until its
//     record is committed before it returns, so an acknowledged change is
//     always audited. When its context carries an audit.Change (the Key
//     Vault API, the admin API and the maintenance jobs put one there),
//     the record is written in the change's own transaction by the store
//     (see package audit): the change and its record commit together.
//   - A read (readMetadata, getSecret, certificates/read, keys/read, the
//     key operations sign, verify, encrypt, decrypt, wrap, unwrap,
//     vault/read, roleAssignments/read) returns as soon as its record is
//     queued. The writer commits queued records in batches (one
//     transaction for up to 512 records) at the latest
//     AuditFlushInterval (default 50 ms) after the first of them was
//     queued, sooner when a change's record or a Flush is queued behind
//     them. A crash of the process (or the machine) therefore loses the
//     records of reads that ended in the last 50 ms plus the time of one
//     commit; a graceful stop does not: Close, called by the server after
//     the last request, commits everything queued.
//   - The queue holds AuditQueueSize records (default 4096); when it is
//     full, operations wait for the writer, but never past their context's
//     deadline nor 5 s: a read whose record finds no room in time is
//     refused (KindUnavailable), never answered unaudited; records are
//     never dropped to make room. When the store cannot be reached
//     (store.ErrUnavailable) and Config.AuditSpoolDir is set, the writer
//     appends the records to a spool file there (synced before their
//     operations are told they are recorded) and replays it into the store,
//     in order, within a second of its return; records that arrive
//     meanwhile join the spool. Without a spool, a batch is retried with a
//     pause of at most a second while the queue holds the operations
//     behind it. Only records the store keeps refusing while it answers
//     reads (three attempts) are logged and dropped. Every record has an ID
//     (AuditRecord.ID) from the moment it is queued, kept through retries
//     and the spool, and the store keeps one record per ID: a batch whose
//     commit reported an error but happened (a connection cut during
//     COMMIT) is stored once however often it is written again.
//   - AuditLog flushes first, so it shows every operation that ended before
//     the call.
//
// # Caching
//
// Read operations take vault settings and the caller's role assignments
// from an in-memory cache. Any change to them made through this Service
// clears it at once (a role removed on this node stops allowing the next
// request). Changes made by other nodes (PostgreSQL clusters) or other
// processes move the store's revision (Store.Revision), which is read at
// most once per CacheRevalidate (default 1 s): a read is authorized with
// data at most that old, so a role removed on another node stops allowing
// reads here within 1 s. Operations that change something never use the
// cache: they read the vault and the assignments from the store.
// Secret values and versions are not cached: a version disabled or deleted
// anywhere is refused at once.
//
// # Outages
//
// While the store fails with store.ErrUnavailable (PostgreSQL unreachable),
// reads keep working from what this Service last read (static stability):
// the last answer the store gave to each object-version read
// (GetObjectVersion, sealed as stored, "absent" included), vault read and
// role-assignment read of the last HeldReadMaxAge (default 15 minutes),
// at most 4096 of each; the authorization cache keeps its entries instead
// of being cleared. These held answers are never used while the store
// answers, and every write through this Service drops what it held of the
// written object, vault or assignments before and after writing. Changes
// made elsewhere before the outage and not read since are not seen (the
// bound is the held answer's age). Everything else — writes, listings,
// objects not read recently — fails with KindUnavailable (503 with
// Retry-After in kvapi), never KindInternal.
package vault
