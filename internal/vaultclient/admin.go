package vaultclient

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
)

func vaultPath(vault string) string { return "/vaults/" + url.PathEscape(vault) }

// ListVaults returns every vault (admin API).
func (c *Client) ListVaults(ctx context.Context) ([]Vault, error) {
	var l List[Vault]
	err := c.admin(ctx, http.MethodGet, "/vaults", nil, &l)
	return l.Value, err
}

// CreateVault creates a vault; the server makes the caller its Key Vault
// Administrator (admin API).
func (c *Client) CreateVault(ctx context.Context, v NewVault) (Vault, error) {
	var out Vault
	err := c.admin(ctx, http.MethodPost, "/vaults", v, &out)
	return out, err
}

// GetVault returns a vault's settings (admin API).
func (c *Client) GetVault(ctx context.Context, vault string) (Vault, error) {
	var out Vault
	err := c.admin(ctx, http.MethodGet, vaultPath(vault), nil, &out)
	return out, err
}

// UpdateVault changes a vault's retention or turns purge protection on
// (admin API).
func (c *Client) UpdateVault(ctx context.Context, vault string, u VaultUpdate) (Vault, error) {
	var out Vault
	err := c.admin(ctx, http.MethodPatch, vaultPath(vault), u, &out)
	return out, err
}

// ListRoleAssignments returns a vault's role assignments (admin API).
func (c *Client) ListRoleAssignments(ctx context.Context, vault string) ([]RoleAssignment, error) {
	var l List[RoleAssignment]
	err := c.admin(ctx, http.MethodGet, vaultPath(vault)+"/roleAssignments", nil, &l)
	return l.Value, err
}

// AssignRole gives an application a built-in role on a vault or one object
// of it (admin API).
func (c *Client) AssignRole(ctx context.Context, vault string, a NewRoleAssignment) (RoleAssignment, error) {
	var out RoleAssignment
	err := c.admin(ctx, http.MethodPost, vaultPath(vault)+"/roleAssignments", a, &out)
	return out, err
}

// RemoveRoleAssignment removes a role assignment by id (admin API).
func (c *Client) RemoveRoleAssignment(ctx context.Context, vault, id string) error {
	return c.admin(ctx, http.MethodDelete, vaultPath(vault)+"/roleAssignments/"+url.PathEscape(id), nil, nil)
}

// Audit returns up to limit audit records of a vault, newest first; limit 0
// takes the server's default (admin API).
func (c *Client) Audit(ctx context.Context, vault string, limit int) ([]AuditRecord, error) {
	path := vaultPath(vault) + "/audit"
	if limit > 0 {
		path += "?limit=" + strconv.Itoa(limit)
	}
	var l List[AuditRecord]
	err := c.admin(ctx, http.MethodGet, path, nil, &l)
	return l.Value, err
}
