package declarative

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/portcullis/portcullis/internal/adminclient"
	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/vault"
	"github.com/portcullis/portcullis/internal/vaultclient"
)

func findVault(vs []VaultState, name string) *VaultState {
	for i := range vs {
		if strings.EqualFold(vs[i].Vault.Name, name) {
			return &vs[i]
		}
	}
	return nil
}

// callerRef is the tenant and name of the application the CLI runs as.
func (p *planner) callerRef() (appRef, bool) {
	r, ok := p.appsByID[strings.ToLower(p.opts.CallerAppID)]
	return r, ok && p.opts.CallerAppID != ""
}

// principalExists says whether the application tenant/name exists after the plan.
func (p *planner) principalExists(tenant, name string) bool {
	if wt := p.wantTenant(tenant); wt != nil {
		if slices.ContainsFunc(wt.Applications, func(a Application) bool { return strings.EqualFold(a.DisplayName, name) }) {
			return true
		}
	}
	if p.opts.Prune {
		return false // an application the files do not name is deleted
	}
	if ht := findTenant(p.have.Tenants, tenant); ht != nil {
		return slices.ContainsFunc(ht.Applications, func(a adminclient.Application) bool { return strings.EqualFold(a.DisplayName, name) })
	}
	return false
}

func (p *planner) wantTenant(name string) *Tenant {
	for i := range p.want.Tenants {
		if strings.EqualFold(p.want.Tenants[i].Name, name) {
			return &p.want.Tenants[i]
		}
	}
	return nil
}

func (p *planner) vaults() {
	if len(p.want.Vaults) > 0 && !p.have.VaultsAvailable {
		p.fail("%s: the configuration names vaults, but the server runs without the vault; remove the vaults or start the server with its vault", p.want.Vaults[0].at)
		return
	}
	named := map[string]bool{}
	for i := range p.want.Vaults {
		wv := &p.want.Vaults[i]
		named[strings.ToLower(wv.Name)] = true
		hv := findVault(p.have.Vaults, wv.Name)
		if hv == nil {
			nv := vaultclient.NewVault{Name: wv.Name, SoftDeleteRetentionDays: wv.SoftDeleteRetentionDays, PurgeProtection: wv.PurgeProtection}
			var fields []FieldChange
			if wv.SoftDeleteRetentionDays != 0 {
				fields = append(fields, FieldChange{Field: "softDeleteRetentionDays", To: fmt.Sprint(wv.SoftDeleteRetentionDays)})
			}
			if wv.PurgeProtection {
				fields = append(fields, FieldChange{Field: "purgeProtection", To: "true"})
			}
			p.add(Change{Op: OpCreate, Kind: "vault", Name: wv.Name, Fields: fields, stage: stageVaults,
				run: func(ctx context.Context, c Clients) error { _, err := c.Vaults.CreateVault(ctx, nv); return err }})
			p.newVaults[strings.ToLower(wv.Name)] = true
			hv = &VaultState{Vault: vaultclient.Vault{Name: wv.Name}}
		} else {
			var u vaultclient.VaultUpdate
			var fields []FieldChange
			if d := wv.SoftDeleteRetentionDays; d != 0 && d != hv.Vault.SoftDeleteRetentionDays {
				u.SoftDeleteRetentionDays = &d
				fields = append(fields, FieldChange{Field: "softDeleteRetentionDays", From: fmt.Sprint(hv.Vault.SoftDeleteRetentionDays), To: fmt.Sprint(d)})
			}
			switch {
			case wv.PurgeProtection && !hv.Vault.PurgeProtection:
				t := true
				u.PurgeProtection = &t
				fields = append(fields, FieldChange{Field: "purgeProtection", From: "false", To: "true"})
			case !wv.PurgeProtection && hv.Vault.PurgeProtection:
				p.plan.Notes = append(p.plan.Notes, fmt.Sprintf("vault %s has purge protection, which cannot be turned off; write purgeProtection: true in the files to say so", wv.Name))
			}
			if len(fields) > 0 {
				name := hv.Vault.Name
				p.add(Change{Op: OpUpdate, Kind: "vault", Name: wv.Name, Fields: fields, stage: stageVaults,
					run: func(ctx context.Context, c Clients) error { _, err := c.Vaults.UpdateVault(ctx, name, u); return err }})
			}
		}
		p.roleAssignments(wv, hv)
		p.vaultObjects(wv, hv)
	}
	for _, hv := range p.have.Vaults {
		if !named[strings.ToLower(hv.Vault.Name)] && p.opts.Prune {
			p.plan.Notes = append(p.plan.Notes, fmt.Sprintf("vault %s is not in the files; vaults are never deleted (the admin API has no vault deletion), so it is kept with its objects and role assignments", hv.Vault.Name))
		}
	}
}

func (p *planner) roleAssignments(wv *Vault, hv *VaultState) {
	vn := wv.Name
	caller, callerKnown := p.callerRef()
	isNew := p.newVaults[strings.ToLower(vn)]
	have := map[string]vaultclient.RoleAssignment{}
	haveKey := func(ra vaultclient.RoleAssignment) string {
		ref, ok := p.appsByID[strings.ToLower(ra.PrincipalID)]
		if !ok {
			return "?" + strings.ToLower(ra.PrincipalID) + " " + strings.ToLower(ra.Role) + " " + strings.ToLower(scopeOrVault(ra.Scope))
		}
		return raKey(RoleAssignment{Principal: ref.name, Tenant: ref.tenant, Role: ra.Role, Scope: ra.Scope})
	}
	for _, ra := range hv.RoleAssignments {
		have[haveKey(ra)] = ra
	}
	want := map[string]bool{}
	for _, ra := range wv.RoleAssignments {
		k := raKey(ra)
		want[k] = true
		tenant := ra.Tenant
		if tenant == "" {
			tenant = directory.DefaultTenantName
		}
		if !p.principalExists(tenant, ra.Principal) {
			p.fail("%s: role assignment %q for %s/%s: tenant %s will have no application named %q; declare it in the tenant's applications",
				wv.at, ra.Role, tenant, ra.Principal, tenant, ra.Principal)
			continue
		}
		if _, ok := have[k]; ok {
			continue
		}
		// Creating a vault makes the calling application its Key Vault
		// Administrator: that assignment needs no call.
		if isNew && callerKnown && ra.Role == vault.RoleAdministrator && scopeOrVault(ra.Scope) == "(vault)" &&
			strings.EqualFold(caller.tenant, tenant) && strings.EqualFold(caller.name, ra.Principal) {
			continue
		}
		na := vaultclient.NewRoleAssignment{Principal: ra.Principal, Tenant: tenant, Role: ra.Role, Scope: ra.Scope}
		p.add(Change{Op: OpCreate, Kind: "vault role assignment", Name: fmt.Sprintf("%s/%s/%s %s", vn, tenant, ra.Principal, raScopeText(ra.Role, ra.Scope)), stage: stageRoleAssignments,
			run: func(ctx context.Context, c Clients) error { _, err := c.Vaults.AssignRole(ctx, vn, na); return err }})
	}
	if !p.opts.Prune {
		return
	}
	for _, ra := range hv.RoleAssignments {
		if want[haveKey(ra)] {
			continue
		}
		ref, ok := p.appsByID[strings.ToLower(ra.PrincipalID)]
		who := ra.PrincipalID
		if ok {
			who = ref.tenant + "/" + ref.name
		}
		if strings.EqualFold(ra.PrincipalID, p.opts.CallerAppID) {
			p.plan.Notes = append(p.plan.Notes, fmt.Sprintf("vault %s: the role %q of %s, the application this command authenticates as, is kept though the files do not name it (removing it would lock this command out of the vault)", vn, ra.Role, who))
			continue
		}
		id := ra.ID
		p.add(Change{Op: OpDelete, Kind: "vault role assignment", Name: fmt.Sprintf("%s/%s %s", vn, who, raScopeText(ra.Role, ra.Scope)), stage: stageDeleteRoleAssignments,
			run: func(ctx context.Context, c Clients) error {
				return ignoreNotFound(c.Vaults.RemoveRoleAssignment(ctx, vn, id))
			}})
	}
}

func raScopeText(role, scope string) string {
	if scopeOrVault(scope) == "(vault)" {
		return role
	}
	return role + " on " + strings.Trim(scope, "/")
}

// ignoreNotFound treats a 404 of a delete as done: the object went with
// what held it (a tenant's deletion removes its vault role assignments).
func ignoreNotFound(err error) error {
	var ve *vaultclient.Error
	if errors.As(err, &ve) && ve.Status == http.StatusNotFound {
		return nil
	}
	return err
}

func (p *planner) vaultObjects(wv *Vault, hv *VaultState) {
	vn := wv.Name
	for _, ws := range wv.Secrets {
		params := vaultclient.SecretSetParameters{Value: ws.value.v, ContentType: ws.ContentType}
		name := ws.Name
		run := func(ctx context.Context, c Clients) error {
			_, err := c.Vaults.SetSecret(ctx, vn, name, params)
			return err
		}
		i := slices.IndexFunc(hv.Secrets, func(s SecretState) bool { return strings.EqualFold(s.Name, ws.Name) })
		if i < 0 {
			p.add(Change{Op: OpCreate, Kind: "vault secret", Name: vn + "/" + ws.Name, Fields: []FieldChange{{Field: "value", To: ws.Value.source()}}, stage: stageVaultObjects, run: run})
			continue
		}
		hs := hv.Secrets[i]
		var fields []FieldChange
		if hs.ValueSHA256 != digest(ws.value.v) {
			fields = append(fields, FieldChange{Field: "value", From: "(current)", To: ws.Value.source()})
		}
		if ws.ContentType != "" && ws.ContentType != hs.ContentType {
			fields = append(fields, FieldChange{Field: "contentType", From: clip(hs.ContentType), To: ws.ContentType})
		}
		if len(fields) > 0 {
			p.add(Change{Op: OpUpdate, Kind: "vault secret", Name: vn + "/" + ws.Name, Fields: fields, stage: stageVaultObjects, run: run})
		}
	}
	for _, wc := range wv.Certificates {
		params := importParams(wc)
		name := wc.Name
		run := func(ctx context.Context, c Clients) error {
			_, err := c.Vaults.ImportCertificate(ctx, vn, name, params)
			return err
		}
		i := slices.IndexFunc(hv.Certificates, func(s CertificateState) bool { return strings.EqualFold(s.Name, wc.Name) })
		if wc.missing != "" && (i < 0 || hv.Certificates[i].X5T != wc.x5t) {
			p.fail("%s", wc.missing)
			continue
		}
		if i < 0 {
			p.add(Change{Op: OpCreate, Kind: "vault certificate", Name: vn + "/" + wc.Name, Fields: []FieldChange{{Field: "fromFile", To: wc.FromFile}}, stage: stageVaultObjects, run: run})
			continue
		}
		if hv.Certificates[i].X5T != wc.x5t {
			p.add(Change{Op: OpUpdate, Kind: "vault certificate", Name: vn + "/" + wc.Name,
				Fields: []FieldChange{{Field: "thumbprint", From: clip(hv.Certificates[i].X5T), To: wc.x5t}}, stage: stageVaultObjects, run: run})
		}
	}
	for _, wk := range wv.Keys {
		name := wk.Name
		var run func(ctx context.Context, c Clients) error
		var fields []FieldChange
		if wk.imported != nil {
			params := vaultclient.KeyImportParameters{Key: wk.imported.jwk}
			params.Key.KeyOps = wk.KeyOps
			run = func(ctx context.Context, c Clients) error {
				_, err := c.Vaults.ImportKey(ctx, vn, name, params)
				return err
			}
			fields = []FieldChange{{Field: "fromFile", To: wk.FromFile}}
		} else {
			params := vaultclient.KeyCreateParameters{Kty: strings.ToUpper(wk.Kty), KeySize: wk.KeySize, Curve: wk.Curve, KeyOps: wk.KeyOps}
			run = func(ctx context.Context, c Clients) error {
				_, err := c.Vaults.CreateKey(ctx, vn, name, params)
				return err
			}
			fields = []FieldChange{{Field: "kty", To: params.Kty}}
		}
		i := slices.IndexFunc(hv.Keys, func(s KeyState) bool { return strings.EqualFold(s.Name, wk.Name) })
		if i < 0 {
			p.add(Change{Op: OpCreate, Kind: "vault key", Name: vn + "/" + wk.Name, Fields: fields, stage: stageVaultObjects, run: run})
			continue
		}
		hk := hv.Keys[i]
		var diff []FieldChange
		if wk.imported != nil {
			if hk.Public != wk.imported.pub {
				diff = append(diff, FieldChange{Field: "key", From: "(current public key)", To: "the key in " + wk.FromFile})
			}
		} else {
			if !strings.EqualFold(strings.TrimSuffix(hk.Kty, "-HSM"), strings.TrimSuffix(strings.ToUpper(wk.Kty), "-HSM")) {
				diff = append(diff, FieldChange{Field: "kty", From: hk.Kty, To: strings.ToUpper(wk.Kty)})
			}
			if wk.KeySize != 0 && hk.KeySize != 0 && wk.KeySize != hk.KeySize {
				diff = append(diff, FieldChange{Field: "keySize", From: fmt.Sprint(hk.KeySize), To: fmt.Sprint(wk.KeySize)})
			}
			if wk.Curve != "" && hk.Curve != "" && wk.Curve != hk.Curve {
				diff = append(diff, FieldChange{Field: "curve", From: hk.Curve, To: wk.Curve})
			}
		}
		if len(diff) > 0 {
			p.add(Change{Op: OpUpdate, Kind: "vault key", Name: vn + "/" + wk.Name, Fields: diff, stage: stageVaultObjects, run: run})
		}
	}
	if !p.opts.Prune {
		return
	}
	for _, hs := range hv.Secrets {
		if slices.ContainsFunc(wv.Secrets, func(s Secret) bool { return strings.EqualFold(s.Name, hs.Name) }) {
			continue
		}
		name := hs.Name
		p.add(Change{Op: OpDelete, Kind: "vault secret", Name: vn + "/" + name, stage: stageDeleteVaultObjects,
			run: func(ctx context.Context, c Clients) error {
				_, err := c.Vaults.DeleteSecret(ctx, vn, name)
				return ignoreNotFound(err)
			}})
	}
	for _, hc := range hv.Certificates {
		if slices.ContainsFunc(wv.Certificates, func(s Certificate) bool { return strings.EqualFold(s.Name, hc.Name) }) {
			continue
		}
		name := hc.Name
		p.add(Change{Op: OpDelete, Kind: "vault certificate", Name: vn + "/" + name, stage: stageDeleteVaultObjects,
			run: func(ctx context.Context, c Clients) error {
				_, err := c.Vaults.DeleteCertificate(ctx, vn, name)
				return ignoreNotFound(err)
			}})
	}
	for _, hk := range hv.Keys {
		if slices.ContainsFunc(wv.Keys, func(s Key) bool { return strings.EqualFold(s.Name, hk.Name) }) {
			continue
		}
		name := hk.Name
		p.add(Change{Op: OpDelete, Kind: "vault key", Name: vn + "/" + name, stage: stageDeleteVaultObjects,
			run: func(ctx context.Context, c Clients) error {
				_, err := c.Vaults.DeleteKey(ctx, vn, name)
				return ignoreNotFound(err)
			}})
	}
}

func (s ValueSource) source() string {
	if s.FromEnv != "" {
		return "(from environment variable " + s.FromEnv + ")"
	}
	return "(from file " + s.FromFile + ")"
}

// importParams is the vault's import request for a certificate file, as
// 'portcullis certificate import' sends it.
func importParams(c Certificate) vaultclient.CertificateImportParameters {
	if bytes.Contains(c.data, []byte("-----BEGIN ")) {
		return vaultclient.CertificateImportParameters{Value: string(c.data),
			Policy: &vaultclient.CertificatePolicy{SecretProperties: &vaultclient.SecretProperties{ContentType: vaultclient.ContentTypePEM}}}
	}
	return vaultclient.CertificateImportParameters{Value: base64.StdEncoding.EncodeToString(c.data), Password: c.pfxPassword.v,
		Policy: &vaultclient.CertificatePolicy{SecretProperties: &vaultclient.SecretProperties{ContentType: vaultclient.ContentTypePFX}}}
}
