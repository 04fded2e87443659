package directory

import (
	"context"
	"errors"

	"github.com/portcullis/portcullis/internal/store"
)

// adminState counts, in one tenant, the grants of the management API's
// Portcullis.Admin role and those of them whose client application holds at
// least one credential (a client secret or a certificate): only such a
// client can obtain an admin token.
type adminState struct {
	grants         int
	withCredential int
}

// readAdminState reads the tenant's adminState inside tx. A tenant without
// the management application (or without its admin role) has none.
func readAdminState(ctx context.Context, tx Tx, tenantID string) (adminState, error) {
	var st adminState
	mgmts, err := tx.FindApplications(ctx, tenantID, ApplicationQuery{IdentifierURIs: []string{ManagementIdentifierURI}})
	if err != nil || len(mgmts) == 0 {
		return st, err
	}
	mgmt := mgmts[0]
	roleID := ""
	for _, r := range mgmt.AppRoles {
		if r.Value == AdminRoleValue {
			roleID = r.ID
		}
	}
	if roleID == "" {
		return st, nil
	}
	grants, err := tx.FindGrants(ctx, tenantID, GrantQuery{ResourceAppID: mgmt.AppID, AppRoleID: roleID})
	if err != nil {
		return st, err
	}
	st.grants = len(grants)
	for _, g := range grants {
		client, err := tx.GetApplication(ctx, tenantID, g.ClientAppID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return st, err
		}
		if len(client.PasswordCredentials)+len(client.KeyCredentials) > 0 {
			st.withCredential++
		}
	}
	return st, nil
}

// lockout holds the refusals of a change that would leave a tenant without
// an administrator: lastGrant when no grant of Portcullis.Admin would
// remain, lastCredential when none would remain to a client holding a
// credential. An empty message means the change cannot cause that case.
type lockout struct {
	lastGrant      string
	lastCredential string
}

// keepsAnAdmin runs change inside tx and refuses it (undoing it with the
// transaction) when it leaves the tenant, which had an administrator,
// without one: no grant of Portcullis.Admin at all, or none to a client
// application holding a credential. Both counts are read in tx after the
// store serialised this writer with every other, so two nodes removing the
// last two administrators at once cannot both succeed.
func keepsAnAdmin(ctx context.Context, tx Tx, tenantID string, change func() error, msgs lockout) error {
	before, err := readAdminState(ctx, tx, tenantID)
	if err != nil {
		return err
	}
	if err := change(); err != nil {
		return err
	}
	if before.grants == 0 {
		return nil // nothing to protect in this tenant
	}
	after, err := readAdminState(ctx, tx, tenantID)
	if err != nil {
		return err
	}
	switch {
	case after.grants == 0:
		msg := msgs.lastGrant
		if msg == "" {
			msg = msgs.lastCredential
		}
		return conflict("%s", msg)
	case before.withCredential > 0 && after.withCredential == 0:
		msg := msgs.lastCredential
		if msg == "" {
			msg = msgs.lastGrant
		}
		return conflict("%s", msg)
	}
	return nil
}
