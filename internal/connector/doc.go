// Package connector runs API connectors: REST endpoints that Portcullis
// calls with claims, secured by an outbound credential, whose answer
// continues, blocks or refuses a flow and maps claims back — the contract
// of identity-platform API connectors (Azure AD B2C / Entra External ID).
//
// [Compile] turns a stored directory.Connector into a [Connector] (its
// outbound.Credential, TLS configuration and transport); [Connector.Invoke]
// sends input claims (JSON body, form, headers or query) and reads the
// response into an [Invocation]: the request as sent (credentials
// redacted), the response, the [Decision] and the output claims. The
// response contract:
//
//   - 200 with a JSON object, "action" absent or "Continue": continue; the
//     declared output claims are read by their partner claim type, other
//     members are ignored and listed;
//   - 200 with "action": "ShowBlockPage" and "userMessage": block;
//   - 400 with "action": "ValidationError", "userMessage" (and "status"
//     400 when present): validation error;
//   - anything else (another status, a non-JSON or malformed body, a
//     timeout, a TLS failure): an error that says what came back — status,
//     content type and the first bytes, sanitised, never a credential.
//
// [Enricher] plugs token-issuance connectors into the token service
// (sts.Enricher).
package connector
