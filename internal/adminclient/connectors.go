package adminclient

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/portcullis/portcullis/internal/connector"
	"github.com/portcullis/portcullis/internal/directory"
)

// Connector is an API connector as the admin API carries it (its JSON form is the
// contract; the type is the directory's own, so no field can drift).
type Connector = directory.Connector

func connectorPath(tenant, name string) string {
	return tenantPath(tenant) + "/connectors/" + esc(name)
}

// ListConnectors returns the API connectors of tenant, ordered by name.
func (c *Client) ListConnectors(ctx context.Context, tenant string) ([]Connector, error) {
	var l List[Connector]
	err := c.do(ctx, http.MethodGet, tenantPath(tenant)+"/connectors", nil, &l)
	return l.Value, err
}

// GetConnector returns one API connector; its Revision is what UpdateConnector's
// ifRevision expects.
func (c *Client) GetConnector(ctx context.Context, tenant, name string) (Connector, error) {
	var a Connector
	err := c.do(ctx, http.MethodGet, connectorPath(tenant, name), nil, &a)
	return a, err
}

// CreateConnector creates a API connector in tenant and returns it as stored.
func (c *Client) CreateConnector(ctx context.Context, tenant string, conn Connector) (Connector, error) {
	var a Connector
	err := c.do(ctx, http.MethodPost, tenantPath(tenant)+"/connectors", conn, &a)
	return a, err
}

// UpdateConnector replaces the API connector named conn.Name. With ifRevision not
// zero the server refuses (412 PreconditionFailed) when the connector is no
// longer at that revision: someone changed it since it was read.
func (c *Client) UpdateConnector(ctx context.Context, tenant string, conn Connector, ifRevision int64) (Connector, error) {
	var h http.Header
	if ifRevision != 0 {
		h = http.Header{"If-Match": {strconv.Quote(strconv.FormatInt(ifRevision, 10))}}
	}
	var a Connector
	err := c.doWith(ctx, http.MethodPut, connectorPath(tenant, conn.Name), h, conn, &a)
	return a, err
}

// DeleteConnector removes a API connector.
func (c *Client) DeleteConnector(ctx context.Context, tenant, name string) error {
	return c.do(ctx, http.MethodDelete, connectorPath(tenant, name), nil, nil)
}

// Invocation is one call of a connector as the invoke operation reports it
// (the runtime's own type, so no field can drift).
type Invocation = connector.Invocation

// InvokeConnector calls the connector named name for real with the input
// claims (by claim type) and returns the invocation: the request as sent
// (credentials redacted), the response, the decision and the output
// claims. A block, a validation error or a failing endpoint is a decision,
// not an error.
func (c *Client) InvokeConnector(ctx context.Context, tenant, name string, claims map[string]any) (Invocation, error) {
	var out struct {
		Invocation
		DurationMillis float64 `json:"durationMs"`
	}
	err := c.do(ctx, http.MethodPost, connectorPath(tenant, name)+"/invoke", map[string]any{"claims": claims}, &out)
	out.Duration = time.Duration(out.DurationMillis * float64(time.Millisecond))
	return out.Invocation, err
}
