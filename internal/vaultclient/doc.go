// Package vaultclient is the command line's client for Portcullis's vault: a
// thin client of the Key Vault-compatible REST API served at
// ADDR/vaults/{vault} (secrets, certificates, keys; api-version 7.5), and of
// the admin API's vault management routes (/admin/v1/vaults: vaults, role
// assignments, audit log).
//
// A Client authenticates like the Key Vault SDKs: its first request to a
// vault goes without a token, the server's 401 challenge
// (WWW-Authenticate: Bearer authorization="…", resource="…" or scope="…")
// names the resource, and the client requests a token for RESOURCE/.default
// from the token service with its credential (the CLI's admin credential).
// The scope and tokens are cached for the life of the Client. Admin routes
// use a token for the management scope from the same credential.
//
// Results keep the Key Vault JSON they were decoded from (the Raw fields),
// so that the CLI's -o json prints exactly Key Vault's field names. Non-2xx
// answers become *Error with Key Vault's code and message.
package vaultclient
