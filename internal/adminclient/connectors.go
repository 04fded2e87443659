package adminclient

import (
	"context"
	"net/http"
	"strconv"

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
