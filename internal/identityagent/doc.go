// Package identityagent is the managed-identity endpoint that runs on an
// application host: `portcullis identity-agent`.
//
// It speaks the App Service managed-identity protocol that azidentity's
// ManagedIdentityCredential (and so DefaultAzureCredential) uses when the
// environment has IDENTITY_ENDPOINT and IDENTITY_HEADER (MSAL Go
// apps/managedidentity, api-version 2019-08-01):
//
//	GET {IDENTITY_ENDPOINT}?api-version=2019-08-01&resource=R[&client_id=C|&mi_res_id=N]
//	X-IDENTITY-HEADER: {IDENTITY_HEADER}
//
//	200 {"access_token":…,"expires_on":"<unix seconds>","resource":R,"token_type":"Bearer","client_id":C}
//	4xx/503 {"error":…,"error_description":…}
//
// An [Agent] holds the host's own credential (a certificate and its key,
// registered on every application the host may hand out) and the
// [Identity] list: one optional system-assigned identity and user-assigned
// ones selected by client id (or by name through mi_res_id). For a request
// it obtains a token from Portcullis' token endpoint with the
// client-credentials grant, client_id = the identity's application and a
// client assertion signed with the host's key; the [Agent]'s cache keeps
// one token per (identity, resource), refreshed ahead of expiry, with one
// token request in flight per key.
//
// Only loopback callers that present the per-host header value get tokens.
// The value is generated at every start and written to a file (mode 0640,
// group configurable) by [WriteSecretFile]; the agent compares it in
// constant time, refuses other hosts and browsers' rebinding tricks, and
// logs refusals at a bounded rate without the value. Refusals of the token
// service (unknown resource, a host certificate not registered on the
// identity's application, …) are passed through with their status, error
// and description, which azidentity prints in its AuthenticationFailedError.
package identityagent
