package admin

import (
	"context"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/portcullis/portcullis/internal/connector"
	"github.com/portcullis/portcullis/internal/vaultwatch"
)

// invokeBudget bounds one invoke request, within the admin listener's
// write timeout (60 s): resolving the vault references, then the call with
// its retries.
const invokeBudget = 50 * time.Second

// invokeRequest is the body of POST …/connectors/{name}/invoke.
type invokeRequest struct {
	// Claims are the input claims by claim type: a string, a number, a
	// boolean or a list of them; those the connector does not declare
	// are not sent.
	Claims map[string]any `json:"claims"`
}

// checkClaimValues refuses a claim value a token cannot carry as an input
// claim: an object, null, or a list holding anything but strings, numbers
// and booleans (encoded, they would reach the endpoint as JSON text in a
// query, a form or a header).
func checkClaimValues(claims map[string]any) error {
	scalar := func(v any) bool {
		switch v.(type) {
		case string, float64, bool:
			return true
		}
		return false
	}
	for _, k := range slices.Sorted(maps.Keys(claims)) {
		v := claims[k]
		if scalar(v) {
			continue
		}
		if l, ok := v.([]any); ok && !slices.ContainsFunc(l, func(e any) bool { return !scalar(e) }) {
			continue
		}
		return badRequest("field %q must be a string, a number, a boolean or a list of them, not %s", "claims."+clip(k), describeJSON(v))
	}
	return nil
}

// describeJSON names the kind of a decoded JSON value.
func describeJSON(v any) string {
	switch v.(type) {
	case nil:
		return "null (leave the claim out instead)"
	case map[string]any:
		return "an object"
	case []any:
		return "a list holding objects, lists or null"
	}
	return "this value"
}

// invokeConnector calls a stored connector for real and answers 200 with
// the connector.Invocation (the request as sent, credentials redacted; the
// response; the decision; the output claims), whatever the decision: a
// block, a validation error or a failure is the endpoint's answer, not the
// admin API's. 409 when the connector cannot be called as stored (a vault
// reference that does not resolve, a client certificate without its key).
func (a *API) invokeConnector(w http.ResponseWriter, r *http.Request) error {
	if a.vaults == nil {
		return errorf(http.StatusServiceUnavailable, "this server runs without the vault, so connectors cannot be called from %s", r.URL.Path)
	}
	var req invokeRequest
	if err := decodeJSON(w, r, &req, true); err != nil {
		return err
	}
	if err := checkClaimValues(req.Claims); err != nil {
		return err
	}
	def, err := a.dir.Connector(r.Context(), r.PathValue("tenant"), r.PathValue("name"))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), invokeBudget)
	defer cancel()
	// A watcher of its own, for this call: the references are resolved
	// now, as the runtime resolves them, and released when the call ends.
	watcher := vaultwatch.New(vaultwatch.Config{Vault: a.vaults, Logger: a.log, Now: a.now})
	go watcher.Run(ctx)
	c, err := connector.Compile(def, connector.Options{Watcher: watcher, VaultTenant: a.vaultTenant, TokenClient: a.tokenClient, Logger: a.log, Now: a.now})
	if err != nil {
		return conflict("connector %q cannot be called as stored: %v", def.Name, err)
	}
	defer c.Close()
	if err := c.Ready(ctx); err != nil {
		return conflict("connector %q cannot be called: %v", def.Name, err)
	}
	inv, _ := c.Invoke(ctx, req.Claims) // a failure is in inv.Decision and inv.Error
	writeJSON(w, http.StatusOK, inv)
	return nil
}
