package admin

import (
	"context"
	"net/http"
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
