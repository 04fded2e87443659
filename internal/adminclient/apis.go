package adminclient

import (
	"context"
	"net/http"
	"strconv"

	"github.com/portcullis/portcullis/internal/directory"
)

// API is a gateway API as the admin API carries it (its JSON form is the
// contract; the type is the directory's own, so no field can drift).
type API = directory.API

func apiPath(tenant, name string) string { return tenantPath(tenant) + "/apis/" + esc(name) }

// ListAPIs returns the gateway APIs of tenant, ordered by name.
func (c *Client) ListAPIs(ctx context.Context, tenant string) ([]API, error) {
	var l List[API]
	err := c.do(ctx, http.MethodGet, tenantPath(tenant)+"/apis", nil, &l)
	return l.Value, err
}

// GetAPI returns one gateway API; its Revision is what UpdateAPI's
// ifRevision expects.
func (c *Client) GetAPI(ctx context.Context, tenant, name string) (API, error) {
	var a API
	err := c.do(ctx, http.MethodGet, apiPath(tenant, name), nil, &a)
	return a, err
}

// CreateAPI creates a gateway API in tenant and returns it as stored.
func (c *Client) CreateAPI(ctx context.Context, tenant string, api API) (API, error) {
	var a API
	err := c.do(ctx, http.MethodPost, tenantPath(tenant)+"/apis", api, &a)
	return a, err
}

// UpdateAPI replaces the gateway API named api.Name. With ifRevision not
// zero the server refuses (412 PreconditionFailed) when the API is no
// longer at that revision: someone changed it since it was read.
func (c *Client) UpdateAPI(ctx context.Context, tenant string, api API, ifRevision int64) (API, error) {
	var h http.Header
	if ifRevision != 0 {
		h = http.Header{"If-Match": {strconv.Quote(strconv.FormatInt(ifRevision, 10))}}
	}
	var a API
	err := c.doWith(ctx, http.MethodPut, apiPath(tenant, api.Name), h, api, &a)
	return a, err
}

// DeleteAPI removes a gateway API.
func (c *Client) DeleteAPI(ctx context.Context, tenant, name string) error {
	return c.do(ctx, http.MethodDelete, apiPath(tenant, name), nil, nil)
}
