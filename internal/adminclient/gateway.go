package adminclient

import (
	"context"
	"crypto/x509"
	"net/http"

	"github.com/portcullis/portcullis/internal/gateway"
)

// ExplainRequest describes the request an explain dry-runs; ExplainResult
// is its answer. They are the gateway's own types, so no field can drift.
type (
	ExplainRequest = gateway.ExplainRequest
	ExplainResult  = gateway.ExplainResult
)

// GatewayInfo is the gateway of the node that answered: where it listens
// and which APIs cannot serve.
type GatewayInfo struct {
	Listeners []string         `json:"listeners"`
	Problems  []GatewayProblem `json:"problems"`
}

// GatewayProblem is an API that answers 503, and why.
type GatewayProblem struct {
	TenantID string `json:"tenantId"`
	API      string `json:"api"`
	Reason   string `json:"reason"`
}

// ExplainAPI dry-runs the policy of the API name of tenant on req: every
// step and the decision. The credentials in req are sent to the admin API,
// which uses them and never echoes them.
func (c *Client) ExplainAPI(ctx context.Context, tenant, name string, req ExplainRequest) (ExplainResult, error) {
	var res ExplainResult
	err := c.do(ctx, http.MethodPost, apiPath(tenant, name)+"/explain", req, &res)
	return res, err
}

// Gateway returns the listeners and problems of the gateway of the node
// that answers; an *APIError with Status 503 means the gateway is off there.
func (c *Client) Gateway(ctx context.Context) (GatewayInfo, error) {
	var g GatewayInfo
	err := c.do(ctx, http.MethodGet, "/gateway", nil, &g)
	return g, err
}

// GatewayRoots is what a client of the gateway trusts: the system roots
// plus the CA certificates of caFile (the admin API's CA, which issues a
// dev server's gateway certificates too) when it is set.
func GatewayRoots(caFile string) (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if caFile != "" {
		if err := addCAFile(pool, caFile); err != nil {
			return nil, err
		}
	}
	return pool, nil
}
