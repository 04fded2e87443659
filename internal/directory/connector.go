package directory

import (
	"time"

	"github.com/portcullis/portcullis/internal/outbound"
)

// Connector is an API connector stored in a tenant: a REST endpoint that
// Portcullis calls with claims, secured by an outbound credential, whose
// answer continues, blocks or refuses a flow and maps claims back. Attached
// to applications through TokenIssuance, the token service calls it before
// minting a client-credentials token. Name is unique in its tenant.
type Connector struct {
	TenantID    string `json:"tenantId"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Endpoint is the absolute http(s) URL the connector calls (POST for
	// body and form, GET for query, POST with an empty body for header).
	Endpoint       string                  `json:"endpoint"`
	Authentication outbound.CredentialSpec `json:"authentication"`
	TLS            *outbound.TLSSpec       `json:"tls,omitempty"`
	// AllowInsecureAuth lets Basic, API-key and bearer credentials go to an
	// http:// endpoint; off by default.
	AllowInsecureAuth bool `json:"allowInsecureAuth,omitempty"`
	// SendClaimsIn is where input claims go: ClaimsInBody (JSON, the
	// default), ClaimsInForm, ClaimsInHeader or ClaimsInQuery.
	SendClaimsIn string           `json:"sendClaimsIn,omitempty"`
	InputClaims  []ConnectorClaim `json:"inputClaims,omitempty"`
	// OutputClaims are the only claims taken from a continuing response;
	// for a token-issuance connector, the only claims it may add to a token.
	OutputClaims   []ConnectorClaim `json:"outputClaims,omitempty"`
	TimeoutSeconds float64          `json:"timeoutSeconds,omitempty"` // default 10
	// Retries is how many times a call is repeated when the connection
	// could not be made (never after the request was sent); default 0.
	Retries       int                     `json:"retries,omitempty"`
	TokenIssuance *ConnectorTokenIssuance `json:"tokenIssuance,omitempty"`
	// Revision is the store revision of the last change to the connector.
	Revision  int64     `json:"revision"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// Where a connector sends its input claims, the values of
// Connector.SendClaimsIn.
const (
	ClaimsInBody   = "body"
	ClaimsInForm   = "form"
	ClaimsInHeader = "header"
	ClaimsInQuery  = "query"
)

// ConnectorClaim is one claim a connector sends or receives. PartnerClaimType
// is its name on the wire when it differs from ClaimType (input: the name
// sent; output: the name read from the response).
type ConnectorClaim struct {
	ClaimType        string `json:"claimType"`
	PartnerClaimType string `json:"partnerClaimType,omitempty"`
}

// ConnectorTokenIssuance attaches a connector to the token service: before
// a client-credentials token is minted for one of ResourceApps (app ids), or
// to one of ClientApps, the connector is called; its output claims are added
// to the token, and a block stops issuance.
type ConnectorTokenIssuance struct {
	ResourceApps []string `json:"resourceApps,omitempty"`
	ClientApps   []string `json:"clientApps,omitempty"`
	// FailurePolicy is FailClosed (the default: an unreachable or broken
	// connector stops issuance) or FailOpen (the token is issued without
	// the connector's claims, and the failure is logged).
	FailurePolicy string `json:"failurePolicy,omitempty"`
}

// Failure policies of a token-issuance connector.
const (
	FailClosed = "failClosed"
	FailOpen   = "failOpen"
)
