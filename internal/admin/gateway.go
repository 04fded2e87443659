package admin

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"

	"github.com/portcullis/portcullis/internal/gateway"
)

// Gateway is the node's API gateway as the admin API sees it: the server
// passes its *gateway.Gateway.
type Gateway interface {
	// ExplainHandler serves the dry run of one API's policy (the body is a
	// gateway.ExplainRequest, the answer a gateway.ExplainResult); it reads
	// the path values "tenant" and "name".
	ExplainHandler() http.Handler
	// Listeners are the URLs the gateway listens on, such as
	// https://127.0.0.1:8444.
	Listeners() []string
	// Problems lists the APIs that cannot serve now, and why.
	Problems() []gateway.Problem
}

// gatewayRoutes are the operations on the node's gateway. The explain
// operation is a POST only because it carries a request to dry-run; it
// changes nothing, so it is audited as a read (see writes).
func gatewayRoutes() []route {
	return []route{
		{"POST", basePath + "/tenants/{tenant}/apis/{name}/explain", false, func(a *API) handlerFunc { return a.explainAPI }},
		{"GET", basePath + "/gateway", false, func(a *API) handlerFunc { return a.gatewayInfo }},
	}
}

// maxExplainBytes is the gateway's own limit on an explain body, checked
// here so that a larger one gets 413 like every admin body over its limit.
const maxExplainBytes = 64 << 10

// readOnlyPosts are the POST operations that change nothing.
var readOnlyPosts = map[string]bool{basePath + "/tenants/{tenant}/apis/{name}/explain": true}

// writes reports whether rt changes state, so that its calls get the audit
// line of a write.
func (rt route) writes() bool {
	return rt.method != http.MethodGet && !(rt.method == http.MethodPost && readOnlyPosts[rt.path])
}

func (a *API) withGateway(r *http.Request) error {
	if a.gateway == nil {
		return errorf(http.StatusServiceUnavailable, "the gateway is off on this node (start 'portcullis serve' with --gateway-listen), so %s is not available", r.URL.Path)
	}
	return nil
}

type gatewayProblemJSON struct {
	TenantID string `json:"tenantId"`
	API      string `json:"api"`
	Reason   string `json:"reason"`
}

type gatewayInfoJSON struct {
	Listeners []string             `json:"listeners"`
	Problems  []gatewayProblemJSON `json:"problems"`
}

func (a *API) gatewayInfo(w http.ResponseWriter, r *http.Request) error {
	if err := a.withGateway(r); err != nil {
		return err
	}
	out := gatewayInfoJSON{Listeners: append([]string{}, a.gateway.Listeners()...), Problems: []gatewayProblemJSON{}}
	for _, p := range a.gateway.Problems() {
		out.Problems = append(out.Problems, gatewayProblemJSON{TenantID: p.TenantID, API: p.API, Reason: p.Reason})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// explainAPI checks the tenant and the body as every admin operation does,
// then lets the gateway run the dry run; its refusals are rewritten into
// the admin API's error shape so that clients see one contract.
func (a *API) explainAPI(w http.ResponseWriter, r *http.Request) error {
	if err := a.withGateway(r); err != nil {
		return err
	}
	t, err := a.dir.Tenant(r.Context(), r.PathValue("tenant"))
	if err != nil {
		return err
	}
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	if body == nil {
		body = []byte("{}") // every field has a default
	}
	if len(body) > maxExplainBytes {
		return errorf(http.StatusRequestEntityTooLarge, "the request to explain is %d bytes; the limit is %d bytes (64 KiB): send only the headers and certificate the policy needs", len(body), maxExplainBytes)
	}
	in := r.Clone(r.Context())
	in.Body = io.NopCloser(bytes.NewReader(body))
	in.ContentLength = int64(len(body))
	// The gateway keys APIs by tenant id; the admin already resolved the
	// name, so both agree on which tenant is meant.
	in.SetPathValue("tenant", t.ID)
	rec := &bufferedResponse{header: http.Header{}, status: http.StatusOK}
	a.gateway.ExplainHandler().ServeHTTP(rec, in)
	if rec.status == http.StatusOK {
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusOK)
		w.Write(rec.body.Bytes())
		return nil
	}
	var ge struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if json.Unmarshal(rec.body.Bytes(), &ge) != nil || ge.Description == "" {
		a.log.Error("admin API: the gateway's explain handler answered without an error body", "status", rec.status, "path", r.URL.Path)
		return errorf(http.StatusInternalServerError, internalMessage)
	}
	return errorf(rec.status, "%s", ge.Description)
}

// bufferedResponse holds the gateway's answer until it is known to be a
// success.
type bufferedResponse struct {
	header      http.Header
	status      int
	wroteHeader bool
	body        bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header { return b.header }

func (b *bufferedResponse) WriteHeader(status int) {
	if !b.wroteHeader {
		b.status, b.wroteHeader = status, true
	}
}

func (b *bufferedResponse) Write(p []byte) (int, error) {
	b.wroteHeader = true
	return b.body.Write(p)
}
