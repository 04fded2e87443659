package vault

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/portcullis/portcullis/internal/store"
)

// VaultInput is the body of CreateVault.
type VaultInput struct {
	Name string
	// SoftDeleteRetentionDays is 7..90; 0 means 90.
	SoftDeleteRetentionDays int
	PurgeProtection         bool
}

// VaultUpdate changes a vault's settings; nil fields are left as they are.
// Purge protection, once on, cannot be turned off (as in Key Vault).
type VaultUpdate struct {
	SoftDeleteRetentionDays *int
	PurgeProtection         *bool
}

func checkRetention(days int) error {
	if days < MinRetentionDays || days > MaxRetentionDays {
		return badRequest("softDeleteRetentionInDays must be between %d and %d days, got %d", MinRetentionDays, MaxRetentionDays, days)
	}
	return nil
}

// EnsureDefault creates the "default" vault (90-day retention, no purge
// protection) unless it exists, and returns it.
func (s *Service) EnsureDefault(ctx context.Context) (Vault, error) {
	v, err := s.store.GetVault(ctx, DefaultVault)
	if err == nil {
		return v, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return Vault{}, fmt.Errorf("vault: read default vault: %w", err)
	}
	v = Vault{Name: DefaultVault, SoftDeleteRetentionDays: DefaultRetentionDays, Created: s.now().UTC()}
	err = s.store.CreateVault(ctx, v)
	s.cache.clear()
	if err != nil {
		if errors.Is(err, store.ErrConflict) { // another node created it meanwhile
			return s.store.GetVault(ctx, DefaultVault)
		}
		return Vault{}, fmt.Errorf("vault: create default vault: %w", err)
	}
	return v, nil
}

// CreateVault creates a vault; only the Portcullis administrator may.
func (s *Service) CreateVault(ctx context.Context, c Caller, in VaultInput) (out Vault, err error) {
	o := s.begin(ctx, c, in.Name, "", "", "", "vault/create")
	defer o.end(&err)
	if !c.Admin {
		return Vault{}, &Error{Kind: KindForbidden, Code: CodeForbidden, InnerCode: innerForbiddenByRbac,
			Message: fmt.Sprintf("caller %s may not create vaults: only the Portcullis administrator (admin API or CLI) can", c.principal())}
	}
	if err := ValidateVaultName(in.Name); err != nil {
		return Vault{}, err
	}
	if in.SoftDeleteRetentionDays == 0 {
		in.SoftDeleteRetentionDays = DefaultRetentionDays
	}
	if err := checkRetention(in.SoftDeleteRetentionDays); err != nil {
		return Vault{}, err
	}
	v := Vault{Name: strings.ToLower(in.Name), SoftDeleteRetentionDays: in.SoftDeleteRetentionDays, PurgeProtection: in.PurgeProtection, Created: s.now().UTC()}
	err = s.store.CreateVault(ctx, v)
	s.cache.clear()
	if err != nil {
		if errors.Is(err, store.ErrConflict) {
			return Vault{}, conflict("", "vault %s already exists", v.Name)
		}
		return Vault{}, internal(err, "create vault %q", v.Name)
	}
	return v, nil
}

// GetVault returns a vault's settings; any role on the vault allows it.
func (s *Service) GetVault(ctx context.Context, c Caller, name string) (out Vault, err error) {
	o := s.begin(ctx, c, name, "", "", "", PermVaultRead)
	defer o.end(&err)
	return o.authorize("", false)
}

// ListVaults returns the vaults the caller holds a role on (all of them for
// the administrator), ordered by name.
func (s *Service) ListVaults(ctx context.Context, c Caller) (out []Vault, err error) {
	o := s.begin(ctx, c, "", "", "", "", PermVaultRead)
	defer o.end(&err)
	all, err := s.store.ListVaults(ctx)
	if err != nil {
		return nil, internal(err, "list vaults")
	}
	for _, v := range all {
		if s.check(ctx, c, v.Name, PermVaultRead, "", false) == nil {
			out = append(out, v)
		}
	}
	return out, nil
}

// UpdateVault changes a vault's retention or turns purge protection on;
// Administrator only.
func (s *Service) UpdateVault(ctx context.Context, c Caller, name string, u VaultUpdate) (out Vault, err error) {
	o := s.begin(ctx, c, name, "", "", "", PermRoleAssignmentsWrite)
	defer o.end(&err)
	if _, err := o.authorize("", false); err != nil {
		return Vault{}, err
	}
	if u.SoftDeleteRetentionDays != nil {
		if err := checkRetention(*u.SoftDeleteRetentionDays); err != nil {
			return Vault{}, err
		}
	}
	v, err := s.store.UpdateVault(ctx, strings.ToLower(name), func(v *Vault) error {
		if u.PurgeProtection != nil {
			if v.PurgeProtection && !*u.PurgeProtection {
				return badRequest("purge protection of vault %s cannot be turned off once enabled", v.Name)
			}
			v.PurgeProtection = *u.PurgeProtection
		}
		if u.SoftDeleteRetentionDays != nil {
			v.SoftDeleteRetentionDays = *u.SoftDeleteRetentionDays
		}
		return nil
	})
	s.cache.clear()
	if err != nil {
		return Vault{}, wrapStoreErr(err, "update vault %q", name)
	}
	return v, nil
}

// AssignRole grants a built-in role to a principal on a vault or on one
// object; Administrator (or the Portcullis administrator) only.
func (s *Service) AssignRole(ctx context.Context, c Caller, a RoleAssignment) (out RoleAssignment, err error) {
	o := s.begin(ctx, c, a.Vault, "", "", "", PermRoleAssignmentsWrite)
	defer o.end(&err)
	v, err := o.authorize("", false)
	if err != nil {
		return RoleAssignment{}, err
	}
	def, ok := LookupRole(a.Role)
	if !ok {
		names := make([]string, len(roles))
		for i, r := range roles {
			names[i] = fmt.Sprintf("%q", r.Name)
		}
		return RoleAssignment{}, badRequest("unknown role %q: built-in roles are %s", a.Role, strings.Join(names, ", "))
	}
	if a.PrincipalID == "" {
		return RoleAssignment{}, badRequest("a role assignment needs a principal (the application's client id)")
	}
	scope, err := ParseScope(a.Scope)
	if err != nil {
		return RoleAssignment{}, err
	}
	out = RoleAssignment{ID: newAssignmentID(), Vault: v.Name, Scope: scope, PrincipalID: a.PrincipalID, Role: def.Name, Created: s.now().UTC()}
	err = s.store.CreateRoleAssignment(ctx, out)
	s.cache.clear()
	if err != nil {
		if errors.Is(err, store.ErrConflict) {
			return RoleAssignment{}, conflict("", "principal %s already holds role %q on vault %s scope %q", a.PrincipalID, def.Name, v.Name, scope)
		}
		return RoleAssignment{}, internal(err, "create role assignment")
	}
	return out, nil
}

// ListRoleAssignments returns a vault's role assignments; Administrator only.
func (s *Service) ListRoleAssignments(ctx context.Context, c Caller, vault string) (out []RoleAssignment, err error) {
	o := s.begin(ctx, c, vault, "", "", "", PermRoleAssignmentsRead)
	defer o.end(&err)
	v, err := o.authorize("", false)
	if err != nil {
		return nil, err
	}
	out, err = s.store.ListRoleAssignments(ctx, v.Name, "")
	if err != nil {
		return nil, internal(err, "list role assignments")
	}
	return out, nil
}

// RemoveRoleAssignment deletes a role assignment by id; Administrator only.
func (s *Service) RemoveRoleAssignment(ctx context.Context, c Caller, vault, id string) (err error) {
	o := s.begin(ctx, c, vault, "", "", "", PermRoleAssignmentsWrite)
	defer o.end(&err)
	v, err := o.authorize("", false)
	if err != nil {
		return err
	}
	err = s.store.DeleteRoleAssignment(ctx, v.Name, id)
	s.cache.clear() // the removal takes effect for the next request on this node
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return &Error{Kind: KindNotFound, Code: CodeNotFound, Message: fmt.Sprintf("role assignment %q does not exist in vault %s", id, v.Name)}
		}
		return internal(err, "delete role assignment")
	}
	return nil
}

// AuditLog returns audit records of a vault ("" for all vaults, which only
// the Portcullis administrator may read), newest first; Administrator only.
func (s *Service) AuditLog(ctx context.Context, c Caller, vault string, limit int) (out []AuditRecord, err error) {
	if vault == "" {
		if !c.Admin {
			return nil, forbidden(innerForbiddenByRbac, "caller %s may not read the audit log of every vault; name a vault", c.principal())
		}
	} else if err := s.check(ctx, c, strings.ToLower(vault), PermRoleAssignmentsRead, "", false); err != nil {
		if _, verr := s.getVault(ctx, vault, true); verr != nil {
			return nil, verr
		}
		return nil, err
	}
	// Queued records of reads that already ended are part of the log.
	if err := s.Flush(ctx); err != nil {
		return nil, internal(err, "flush the audit log")
	}
	out, err = s.store.ListAudit(ctx, AuditQuery{Vault: strings.ToLower(vault), Limit: limit})
	if err != nil {
		return nil, internal(err, "read audit log")
	}
	return out, nil
}
