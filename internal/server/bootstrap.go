package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/store"
)

// adminClientName is the display name of the application created on first
// start to hold the Portcullis.Admin role; the CLI uses its credential.
const adminClientName = "portcullis-admin"

// managementName is the display name of the built-in management resource.
const managementName = "Portcullis Management"

// AdminCredential is the content of the admin credential file that the CLI
// reads (see internal/adminclient). It is written with mode 0600.
type AdminCredential struct {
	Addr         string `json:"addr"`
	CA           string `json:"ca,omitempty"`
	TenantID     string `json:"tenantId"`
	ClientID     string `json:"clientId"`
	ClientSecret string `json:"clientSecret"`
	Scope        string `json:"scope"`
}

// bootstrapResult says what the first start created.
type bootstrapResult struct {
	Tenant          directory.Tenant
	ManagementAppID string
	AdminCreated    bool
	// AdminAppIDs are the clients granted Portcullis.Admin (the bootstrap
	// admin client among them); serve makes them Key Vault Administrators
	// of the default vault.
	AdminAppIDs []string
}

func newGUID() string { return strings.ToLower(uuid.NewString()) }

// bootstrap makes sure the default tenant, the management resource with its
// Portcullis.Admin role, and an admin client holding that role exist. It is
// safe when several nodes start at once: a conflict means another node won
// the race, and the loser re-reads.
func bootstrap(ctx context.Context, st store.Store, cfg *Config, addr, caFile string, now time.Time) (bootstrapResult, error) {
	var res bootstrapResult
	t, err := ensureDefaultTenant(ctx, st, now)
	if err != nil {
		return res, err
	}
	res.Tenant = t
	mgmt, err := ensureManagementApp(ctx, st, t.ID, now)
	if err != nil {
		return res, err
	}
	res.ManagementAppID = mgmt.AppID
	adminRole := ""
	for _, r := range mgmt.AppRoles {
		if r.Value == directory.AdminRoleValue {
			adminRole = r.ID
		}
	}
	grants, err := st.ListGrants(ctx, t.ID)
	if err != nil {
		return res, fmt.Errorf("bootstrap: list grants: %w", err)
	}
	for _, g := range grants {
		if g.ResourceAppID == mgmt.AppID && g.AppRoleID == adminRole {
			res.AdminAppIDs = append(res.AdminAppIDs, g.ClientAppID)
		}
	}
	if len(res.AdminAppIDs) > 0 {
		return res, nil // an administrator exists already
	}
	// First start: create the admin client, its secret and the grant, then
	// hand the credential over in a file only the operator can read.
	secret, err := directory.NewClientSecret()
	if err != nil {
		return res, err
	}
	admin := directory.Application{
		TenantID: t.ID, AppID: newGUID(), ObjectID: newGUID(), DisplayName: adminClientName, CreatedAt: now,
		PasswordCredentials: []directory.PasswordCredential{{
			ID: newGUID(), Hint: secret.Hint, Hash: secret.Hash, Description: "bootstrap admin credential",
			StartAt: now, ExpiresAt: now.AddDate(2, 0, 0), CreatedAt: now,
		}},
	}
	admin.IdentifierURIs = []string{"api://" + admin.AppID}
	if err := st.CreateApplication(ctx, admin); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return res, nil // another node created it concurrently
		}
		return res, fmt.Errorf("bootstrap: create admin application: %w", err)
	}
	if err := st.CreateGrant(ctx, directory.Grant{ID: newGUID(), TenantID: t.ID, ClientAppID: admin.AppID, ResourceAppID: mgmt.AppID, AppRoleID: adminRole, CreatedAt: now}); err != nil {
		return res, fmt.Errorf("bootstrap: grant admin role: %w", err)
	}
	cred := AdminCredential{Addr: addr, CA: caFile, TenantID: t.ID, ClientID: admin.AppID, ClientSecret: secret.Text, Scope: directory.ManagementIdentifierURI + "/.default"}
	b, _ := json.MarshalIndent(cred, "", "  ")
	if err := os.MkdirAll(filepath.Dir(cfg.AdminCredentialFile), 0o700); err != nil {
		return res, fmt.Errorf("bootstrap: %w", err)
	}
	if err := writeFileAtomic(cfg.AdminCredentialFile, append(b, '\n'), 0o600); err != nil {
		return res, fmt.Errorf("bootstrap: write admin credential: %w", err)
	}
	res.AdminCreated = true
	res.AdminAppIDs = append(res.AdminAppIDs, admin.AppID)
	return res, nil
}

func ensureDefaultTenant(ctx context.Context, st store.Store, now time.Time) (directory.Tenant, error) {
	for attempt := 0; attempt < 2; attempt++ {
		tenants, err := st.ListTenants(ctx)
		if err != nil {
			return directory.Tenant{}, fmt.Errorf("bootstrap: list tenants: %w", err)
		}
		for _, t := range tenants {
			if strings.EqualFold(t.Name, directory.DefaultTenantName) {
				return t, nil
			}
		}
		t := directory.Tenant{ID: newGUID(), Name: directory.DefaultTenantName, CreatedAt: now}
		err = st.CreateTenant(ctx, t)
		if err == nil {
			return t, nil
		}
		if !errors.Is(err, store.ErrConflict) {
			return directory.Tenant{}, fmt.Errorf("bootstrap: create default tenant: %w", err)
		}
	}
	return directory.Tenant{}, errors.New("bootstrap: default tenant could not be created or found")
}

func ensureManagementApp(ctx context.Context, st store.Store, tenantID string, now time.Time) (directory.Application, error) {
	for attempt := 0; attempt < 2; attempt++ {
		apps, err := st.ListApplications(ctx, tenantID)
		if err != nil {
			return directory.Application{}, fmt.Errorf("bootstrap: list applications: %w", err)
		}
		for _, a := range apps {
			for _, u := range a.IdentifierURIs {
				if strings.EqualFold(u, directory.ManagementIdentifierURI) {
					return a, nil
				}
			}
		}
		app := directory.Application{
			TenantID: tenantID, AppID: newGUID(), ObjectID: newGUID(), DisplayName: managementName, CreatedAt: now,
			IdentifierURIs: []string{directory.ManagementIdentifierURI},
			AppRoles: []directory.AppRole{{
				ID: newGUID(), Value: directory.AdminRoleValue, DisplayName: "Portcullis administrator",
				Description: "Full access to the Portcullis admin API", Enabled: true,
			}},
		}
		err = st.CreateApplication(ctx, app)
		if err == nil {
			return app, nil
		}
		if !errors.Is(err, store.ErrConflict) {
			return directory.Application{}, fmt.Errorf("bootstrap: create management application: %w", err)
		}
	}
	return directory.Application{}, errors.New("bootstrap: management application could not be created or found")
}
