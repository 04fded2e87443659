// Package directory is who exists and the rules about them: tenants,
// applications (app registrations) with their identifier URIs, app roles,
// password and key credentials, grants (admin consent) of app roles to
// client applications, the gateway's APIs (API: a route with its
// backend and inbound policy, stored per tenant as one JSON document and
// validated by the Service, which also keeps any two APIs of the
// installation from matching the same requests), and API connectors
// (Connector: an endpoint called with claims, its outbound credential and
// TLS as vault references, optionally attached to applications for token
// issuance, at most one per application). The vault references of APIs and
// connectors are recorded through VaultReferences, so that the vault
// refuses to delete what they use.
//
// The model types (Tenant, Application, Grant, …) are plain values. Service
// holds the rules: valid names and identifier URIs, limits, the built-in
// applications (the management API and the vault resource cannot be deleted
// or lose their identifier URIs), grants of enabled roles only, a role in
// use by a grant cannot be removed, and a tenant holding the management API
// keeps an administrator: at least one grant of Portcullis.Admin, and, when
// one had a credential, at least one to a client application that holds a
// credential (only such a client can obtain an admin token). Its refusals
// are *Error values with a Kind; each surface renders them once (the admin
// API in internal/admin/errors.go).
//
// # Storage: one seam, rules inside transactions
//
// Store is defined here, where it is consumed, as the vault defines
// vault.Store and the token service sts.KeyStore; the backends in
// internal/store implement it and storetest holds them to it. Each change
// of the Service runs in one Store.UpdateDirectory transaction: it resolves
// the references, reads what the rule needs (for the last administrator:
// the management application, the grants of its admin role and their
// clients' credentials), makes the change, and for a removal reads the
// state again and refuses — rolling everything back — when the change
// would leave the tenant without an administrator. The backends serialise
// write transactions (every write transaction first increments the global
// revision row, whose row lock orders all writers on PostgreSQL across
// nodes; SQLite's BEGIN IMMEDIATE orders them per database file), so two
// nodes removing the last two administrators at once cannot both succeed:
// the second one's transaction reads the first one's committed removal.
// No rule relies on a process-local mutex.
//
// Later domains follow the same pattern: a Store interface in their
// package, a Service whose changes run in one transaction, a conformance
// suite added to storetest.Run.
//
// The token service reads an immutable Snapshot of the whole directory. When
// the store reports a new revision, the next Snapshot is derived from the
// previous one and the objects that changed (Changes, from the store's
// change log) by Snapshot.Apply, which copies only the index shards a
// change touches: a write costs the same with 100 applications or 10,000.
// NewSnapshot builds one from scratch (first load, fallback). The snapshot
// carries the APIs too (Snapshot.APIs), so the gateway rebuilds its routes
// from the same reload as the token service.
package directory
