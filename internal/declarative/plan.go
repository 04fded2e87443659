package declarative

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/portcullis/portcullis/internal/adminclient"
	"github.com/portcullis/portcullis/internal/directory"
)

// Op is what a Change does.
type Op byte

// The operations of a plan, written as a diff marks them.
const (
	OpCreate Op = '+'
	OpUpdate Op = '~'
	OpDelete Op = '-'
)

// Change is one step of a Plan: one admin API (or vault API) call.
type Change struct {
	Op   Op
	Kind string // tenant, application, app role, client secret, …
	Name string // tenant/application/…: the object, as a person reads it
	// Fields are the changed fields of an update (From → To) or the set
	// fields of a create (To only). Secret values never appear: a changed
	// secret shows where its new value comes from.
	Fields []FieldChange
	// Refused says why the safety rules forbid this change ("" if not).
	Refused string

	stage stage
	run   func(ctx context.Context, c Clients) error
}

// FieldChange is one field of a Change.
type FieldChange struct {
	Field    string
	From, To string
}

// Clients are the API clients a Plan applies through.
type Clients struct {
	Admin  Admin
	Vaults Vaults // nil when the configuration names no vault
}

// Plan is the difference between a Document and a State: the changes that
// make the server hold what the document says, in the order they run.
type Plan struct {
	Changes []Change
	// Notes are things apply cannot change and does not try (e.g. a vault
	// that the files no longer name: vaults are never deleted).
	Notes []string
}

// PlanOptions change how NewPlan compares.
type PlanOptions struct {
	// Prune deletes what the document does not name.
	Prune bool
	// CallerAppID is the appId of the application the CLI authenticates
	// as: its application, credentials, grants and vault roles are never
	// pruned (that would lock the CLI out mid-apply).
	CallerAppID string
}

// stage orders the changes: deletes of dependents before what they depend
// on, creates of what others depend on first, and the removal of vault role
// assignments last.
type stage int

const (
	stageDeleteGateway stage = iota
	stageDeleteVaultObjects
	stageDeleteGrants
	stageDeleteCredentials
	stageDeleteAppRoles
	stageDeleteApplications
	stageDeleteTenants
	stageTenants
	stageApplications
	stageAppRoles
	stageCredentials
	stageGrants
	stageVaults
	stageRoleAssignments
	stageVaultObjects
	stageGateway
	stageDeleteRoleAssignments
)

// Refused reports the changes the safety rules forbid.
func (p *Plan) Refused() []Change {
	var out []Change
	for _, c := range p.Changes {
		if c.Refused != "" {
			out = append(out, c)
		}
	}
	return out
}

// Counts returns how many creates, updates and deletes the plan holds.
func (p *Plan) Counts() (create, update, del int) {
	for _, c := range p.Changes {
		switch c.Op {
		case OpCreate:
			create++
		case OpUpdate:
			update++
		case OpDelete:
			del++
		}
	}
	return
}

// Empty says whether the server already holds the configuration.
func (p *Plan) Empty() bool { return len(p.Changes) == 0 }

// planner builds a Plan.
type planner struct {
	want *Document
	have *State
	opts PlanOptions
	plan Plan
	errs []error

	// appsByID maps every application's appId (lower case) to its tenant
	// name and display name, across tenants.
	appsByID map[string]appRef
	// deletedTenants and deletedApps are what the plan deletes (lower-case
	// tenant name; tenant/appId), so that their dependents are not listed.
	deletedTenants map[string]bool
	deletedApps    map[string]bool
	newVaults      map[string]bool
}

type appRef struct{ tenant, name string }

func (p *planner) add(c Change) { p.plan.Changes = append(p.plan.Changes, c) }

func (p *planner) fail(format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf(format, args...))
}

// NewPlan compares want with have. It fails, naming each problem, when the
// document cannot be applied as it stands (a grant naming an application
// that would not exist, an app role that would have to change in place, …);
// then nothing must be applied.
func NewPlan(want *Document, have *State, opts PlanOptions) (*Plan, error) {
	p := &planner{want: want, have: have, opts: opts, appsByID: map[string]appRef{},
		deletedTenants: map[string]bool{}, deletedApps: map[string]bool{}, newVaults: map[string]bool{}}
	for _, t := range have.Tenants {
		for _, a := range t.Applications {
			p.appsByID[strings.ToLower(a.AppID)] = appRef{t.Tenant.Name, a.DisplayName}
		}
	}
	p.tenants()
	p.lastAdmin()
	p.vaults()
	p.checkIssuerTenants()
	if p.have.VaultsAvailable {
		p.checkVaultReferences()
	}
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	sort.SliceStable(p.plan.Changes, func(i, j int) bool { return p.plan.Changes[i].stage < p.plan.Changes[j].stage })
	return &p.plan, nil
}

func findTenant(ts []TenantState, name string) *TenantState {
	for i := range ts {
		if strings.EqualFold(ts[i].Tenant.Name, name) {
			return &ts[i]
		}
	}
	return nil
}

func (p *planner) tenants() {
	named := map[string]bool{}
	for i := range p.want.Tenants {
		wt := &p.want.Tenants[i]
		named[strings.ToLower(wt.Name)] = true
		ht := findTenant(p.have.Tenants, wt.Name)
		if ht == nil {
			name := wt.Name
			p.add(Change{Op: OpCreate, Kind: "tenant", Name: name, stage: stageTenants,
				run: func(ctx context.Context, c Clients) error { _, err := c.Admin.CreateTenant(ctx, name); return err }})
			ht = &TenantState{Tenant: adminclient.Tenant{Name: name}}
		}
		p.tenant(wt, ht)
	}
	if !p.opts.Prune {
		return
	}
	for _, ht := range p.have.Tenants {
		if named[strings.ToLower(ht.Tenant.Name)] {
			continue
		}
		ch := Change{Op: OpDelete, Kind: "tenant", Name: ht.Tenant.Name, stage: stageDeleteTenants}
		id := ht.Tenant.ID
		ch.run = func(ctx context.Context, c Clients) error { return c.Admin.DeleteTenant(ctx, id) }
		for _, a := range ht.Applications {
			switch {
			case hasURI(a, directory.ManagementIdentifierURI):
				ch.Refused = fmt.Sprintf("it holds the management API (%s) that authorizes every admin call; add the tenant to the files", a.DisplayName)
			case strings.EqualFold(a.AppID, p.opts.CallerAppID) && ch.Refused == "":
				ch.Refused = fmt.Sprintf("it holds the application %s this command authenticates as; add the tenant to the files", a.DisplayName)
			}
		}
		p.deletedTenants[strings.ToLower(ht.Tenant.Name)] = true
		p.add(ch)
	}
}

func hasURI(a adminclient.Application, uri string) bool {
	return slices.ContainsFunc(a.IdentifierURIs, func(u string) bool { return strings.EqualFold(u, uri) })
}

func builtIn(a adminclient.Application) string {
	for _, u := range []string{directory.ManagementIdentifierURI, directory.VaultIdentifierURI} {
		if hasURI(a, u) {
			return u
		}
	}
	return ""
}

// findApp returns the application of ts named name; an error when two
// applications carry that name.
func (p *planner) findApp(ts *TenantState, name string) (*adminclient.Application, bool) {
	var found *adminclient.Application
	for i := range ts.Applications {
		if strings.EqualFold(ts.Applications[i].DisplayName, name) {
			if found != nil {
				p.fail("tenant %s has two applications named %q (%s and %s); the configuration names applications by display name: rename one with 'portcullis app update'",
					ts.Tenant.Name, name, found.AppID, ts.Applications[i].AppID)
				return nil, false
			}
			found = &ts.Applications[i]
		}
	}
	return found, true
}

func (p *planner) tenant(wt *Tenant, ht *TenantState) {
	tn := wt.Name
	tid := ht.Tenant.Name // the admin API takes a tenant's name or id
	named := map[string]bool{}
	// effective roles per application after the plan (lower-case name → role values)
	roles := map[string]map[string]bool{}
	for i := range wt.Applications {
		wa := &wt.Applications[i]
		named[strings.ToLower(wa.DisplayName)] = true
		ha, ok := p.findApp(ht, wa.DisplayName)
		if !ok {
			continue
		}
		r := map[string]bool{}
		for _, role := range wa.AppRoles {
			r[role.Value] = true
		}
		if ha != nil && !p.opts.Prune {
			for _, role := range ha.AppRoles {
				r[role.Value] = true
			}
		}
		roles[strings.ToLower(wa.DisplayName)] = r
		p.application(tn, tid, wa, ha)
	}
	if p.opts.Prune {
		for _, ha := range ht.Applications {
			if named[strings.ToLower(ha.DisplayName)] {
				continue
			}
			appID := ha.AppID
			ch := Change{Op: OpDelete, Kind: "application", Name: tn + "/" + ha.DisplayName, stage: stageDeleteApplications,
				run: func(ctx context.Context, c Clients) error { return c.Admin.DeleteApplication(ctx, tid, appID) }}
			if b := builtIn(ha); b != "" {
				ch.Refused = fmt.Sprintf("it is a built-in application (%s) Portcullis depends on; it cannot be deleted: add it to the files", b)
			} else if strings.EqualFold(ha.AppID, p.opts.CallerAppID) {
				ch.Refused = "it is the application this command authenticates as; add it to the files"
			}
			p.deletedApps[strings.ToLower(tn+"/"+ha.AppID)] = true
			p.add(ch)
		}
	} else {
		for _, ha := range ht.Applications {
			if !named[strings.ToLower(ha.DisplayName)] {
				r := map[string]bool{}
				for _, role := range ha.AppRoles {
					r[role.Value] = true
				}
				roles[strings.ToLower(ha.DisplayName)] = r
			}
		}
	}
	p.grants(wt, ht, roles)
	p.connectorApps(wt, ht, roles)
	p.gateway(wt, ht)
}

// connectorApps stops a plan whose connectors attach to an application
// that will not exist (not declared, not on the server, or pruned): the
// server refuses the connector, or refuses to delete an application a
// connector is attached to, midway. remaining holds the lower-case display
// names of the tenant's applications after the plan.
func (p *planner) connectorApps(wt *Tenant, ht *TenantState, remaining map[string]map[string]bool) {
	exists := func(ref string) bool {
		if _, ok := remaining[strings.ToLower(ref)]; ok {
			return true
		}
		for _, wa := range wt.Applications {
			if slices.ContainsFunc(wa.IdentifierURIs, func(u string) bool { return strings.EqualFold(u, ref) }) {
				return true
			}
		}
		for _, ha := range ht.Applications {
			if _, ok := remaining[strings.ToLower(ha.DisplayName)]; !ok {
				continue
			}
			if strings.EqualFold(ha.AppID, ref) || slices.ContainsFunc(ha.IdentifierURIs, func(u string) bool { return strings.EqualFold(u, ref) }) {
				return true
			}
		}
		return false
	}
	for _, c := range wt.Connectors {
		ti := c.TokenIssuance
		if ti == nil {
			continue
		}
		for _, l := range []struct {
			field string
			refs  []string
		}{{"resourceApps", ti.ResourceApps}, {"clientApps", ti.ClientApps}} {
			for i, ref := range l.refs {
				if !exists(ref) {
					p.fail("%s: connector %s/%s: tokenIssuance.%s[%d]: tenant %s will have no application %q; declare it in applications (or keep it there), or detach the connector from it",
						wt.at, wt.Name, c.Name, l.field, i, wt.Name, ref)
				}
			}
		}
	}
}

func (p *planner) application(tn, tid string, wa *Application, ha *adminclient.Application) {
	path := tn + "/" + wa.DisplayName
	appRef := wa.DisplayName
	if ha == nil {
		var fields []FieldChange
		if len(wa.IdentifierURIs) > 0 {
			fields = append(fields, FieldChange{Field: "identifierUris", To: list(wa.IdentifierURIs)})
		}
		if wa.AccessTokenLifetimeSeconds != 0 {
			fields = append(fields, FieldChange{Field: "accessTokenLifetimeSeconds", To: fmt.Sprint(wa.AccessTokenLifetimeSeconds)})
		}
		na := adminclient.NewApplication{DisplayName: wa.DisplayName, IdentifierURIs: wa.IdentifierURIs, AccessTokenLifetimeSeconds: wa.AccessTokenLifetimeSeconds}
		if b := wa.RequireCertificateBoundTokens; b != nil && *b {
			na.RequireCertificateBoundTokens = true
			fields = append(fields, FieldChange{Field: "requireCertificateBoundTokens", To: "true"})
		}
		p.add(Change{Op: OpCreate, Kind: "application", Name: path, Fields: fields, stage: stageApplications,
			run: func(ctx context.Context, c Clients) error {
				_, err := c.Admin.CreateApplication(ctx, tid, na)
				return err
			}})
		ha = &adminclient.Application{DisplayName: wa.DisplayName}
	} else {
		appRef = ha.AppID
		var u adminclient.ApplicationUpdate
		var fields []FieldChange
		if wa.IdentifierURIs != nil && !slices.EqualFunc(sortedCopy(wa.IdentifierURIs), sortedCopy(ha.IdentifierURIs), strings.EqualFold) {
			if b := builtIn(*ha); b != "" && !slices.ContainsFunc(wa.IdentifierURIs, func(s string) bool { return strings.EqualFold(s, b) }) {
				p.fail("%s: application %q is built in and must keep the identifier URI %s; add it to identifierUris", wa.at, wa.DisplayName, b)
			}
			u.IdentifierURIs = wa.IdentifierURIs
			fields = append(fields, FieldChange{Field: "identifierUris", From: list(ha.IdentifierURIs), To: list(wa.IdentifierURIs)})
		}
		if wa.AccessTokenLifetimeSeconds != 0 && wa.AccessTokenLifetimeSeconds != ha.AccessTokenLifetimeSeconds {
			v := wa.AccessTokenLifetimeSeconds
			u.AccessTokenLifetimeSeconds = &v
			fields = append(fields, FieldChange{Field: "accessTokenLifetimeSeconds", From: fmt.Sprint(ha.AccessTokenLifetimeSeconds), To: fmt.Sprint(v)})
		}
		if b := wa.RequireCertificateBoundTokens; b != nil && *b != ha.RequireCertificateBoundTokens {
			if builtIn(*ha) != "" && *b {
				p.fail("%s: application %q is built in: Portcullis itself requests its tokens, so it cannot require certificate-bound tokens; drop requireCertificateBoundTokens", wa.at, wa.DisplayName)
			}
			v := *b
			u.RequireCertificateBoundTokens = &v
			fields = append(fields, FieldChange{Field: "requireCertificateBoundTokens", From: fmt.Sprint(ha.RequireCertificateBoundTokens), To: fmt.Sprint(v)})
		}
		if len(fields) > 0 {
			id := ha.AppID
			p.add(Change{Op: OpUpdate, Kind: "application", Name: path, Fields: fields, stage: stageApplications,
				run: func(ctx context.Context, c Clients) error {
					_, err := c.Admin.UpdateApplication(ctx, tid, id, u)
					return err
				}})
		}
	}
	// App roles, by value.
	for _, wr := range wa.AppRoles {
		i := slices.IndexFunc(ha.AppRoles, func(r adminclient.AppRole) bool { return r.Value == wr.Value })
		if i < 0 {
			nr := adminclient.NewAppRole{Value: wr.Value, DisplayName: wr.DisplayName, Description: wr.Description}
			var fields []FieldChange
			if wr.DisplayName != "" {
				fields = append(fields, FieldChange{Field: "displayName", To: wr.DisplayName})
			}
			p.add(Change{Op: OpCreate, Kind: "app role", Name: path + "/" + wr.Value, Fields: fields, stage: stageAppRoles,
				run: func(ctx context.Context, c Clients) error {
					_, err := c.Admin.AddAppRole(ctx, tid, appRef, nr)
					return err
				}})
			continue
		}
		hr := ha.AppRoles[i]
		if wr.DisplayName != "" && wr.DisplayName != hr.DisplayName || wr.Description != "" && wr.Description != hr.Description {
			p.fail("%s: app role %q of %s differs from the server's (displayName %q, description %q); Portcullis cannot change an app role in place: make the file match, or remove the role (and its grants) with 'portcullis app role remove' and apply again",
				wa.at, wr.Value, path, hr.DisplayName, hr.Description)
		}
	}
	if p.opts.Prune {
		for _, hr := range ha.AppRoles {
			if slices.ContainsFunc(wa.AppRoles, func(r AppRole) bool { return r.Value == hr.Value }) {
				continue
			}
			id := hr.ID
			ch := Change{Op: OpDelete, Kind: "app role", Name: path + "/" + hr.Value, stage: stageDeleteAppRoles,
				run: func(ctx context.Context, c Clients) error { return c.Admin.RemoveAppRole(ctx, tid, appRef, id) }}
			if hasURI(*ha, directory.ManagementIdentifierURI) && hr.Value == directory.AdminRoleValue {
				ch.Refused = "the Portcullis.Admin role of the management API authorizes every admin call; add it to the files"
			}
			p.add(ch)
		}
	}
	// Certificates, by thumbprint.
	for _, wk := range wa.KeyCredentials {
		if slices.ContainsFunc(ha.KeyCredentials, func(k adminclient.KeyCredential) bool { return strings.EqualFold(k.Thumbprint, wk.thumbprint) }) {
			continue
		}
		if wk.missing != "" {
			p.fail("%s", wk.missing)
			continue
		}
		nc := adminclient.NewCertificate{Certificate: wk.data, Password: wk.pfxPassword.v, Description: wk.Description}
		p.add(Change{Op: OpCreate, Kind: "certificate credential", Name: path + "/" + wk.thumbprint,
			Fields: []FieldChange{{Field: "certificateFile", To: wk.CertificateFile}}, stage: stageCredentials,
			run: func(ctx context.Context, c Clients) error {
				_, err := c.Admin.AddCertificate(ctx, tid, appRef, nc)
				return err
			}})
	}
	caller := strings.EqualFold(ha.AppID, p.opts.CallerAppID) && ha.AppID != ""
	if p.opts.Prune {
		for _, hk := range ha.KeyCredentials {
			if slices.ContainsFunc(wa.KeyCredentials, func(k KeyCredential) bool { return strings.EqualFold(k.thumbprint, hk.Thumbprint) }) {
				continue
			}
			id := hk.ID
			ch := Change{Op: OpDelete, Kind: "certificate credential", Name: path + "/" + hk.Thumbprint, stage: stageDeleteCredentials,
				run: func(ctx context.Context, c Clients) error { return c.Admin.RemoveCertificate(ctx, tid, appRef, id) }}
			p.add(ch)
		}
	}
	// Client secrets, by description.
	for _, ws := range wa.PasswordCredentials {
		if slices.ContainsFunc(ha.PasswordCredentials, func(s adminclient.PasswordCredential) bool { return s.Description == ws.Description }) {
			continue
		}
		if _, err := os.Lstat(ws.SaveTo); err == nil {
			p.fail("%s: client secret %q of %s is to be created, but its saveTo file %s exists; apply never overwrites a secret file: move it away or name another file",
				wa.at, ws.Description, path, ws.SaveTo)
		}
		ns := adminclient.NewSecret{Description: ws.Description, ExpiresInSeconds: ws.ExpiresInSeconds}
		saveTo := ws.SaveTo
		p.add(Change{Op: OpCreate, Kind: "client secret", Name: path + "/" + describe(ws.Description),
			Fields: []FieldChange{{Field: "saveTo", To: saveTo}}, stage: stageCredentials,
			run: func(ctx context.Context, c Clients) error { return addSecret(ctx, c.Admin, tid, appRef, ns, saveTo) }})
	}
	if p.opts.Prune {
		for _, hs := range ha.PasswordCredentials {
			if slices.ContainsFunc(wa.PasswordCredentials, func(s PasswordCredential) bool { return s.Description == hs.Description }) {
				continue
			}
			id := hs.ID
			ch := Change{Op: OpDelete, Kind: "client secret", Name: path + "/" + describe(hs.Description) + " (" + hs.Hint + "…)", stage: stageDeleteCredentials,
				run: func(ctx context.Context, c Clients) error { return c.Admin.RemoveSecret(ctx, tid, appRef, id) }}
			if caller {
				ch.Refused = "it may be the client secret this command authenticates with; add it to the files"
			}
			p.add(ch)
		}
	}
	p.federatedCredentials(path, tid, appRef, wa, ha)
}

// federatedCredentials plans the federated identity credentials of an
// application, by name: missing ones are created, differing ones replaced
// (removed and added again: the admin API has no update), and with prune
// undeclared ones removed.
func (p *planner) federatedCredentials(path, tid, appRef string, wa *Application, ha *adminclient.Application) {
	for _, wf := range wa.FederatedIdentityCredentials {
		nf := adminclient.FederatedIdentityCredential{Name: wf.Name, Issuer: wf.Issuer, Subject: wf.Subject, Audiences: wf.Audiences,
			Description: wf.Description, JWKSURI: wf.JWKSURI, Keys: wf.Keys}
		i := slices.IndexFunc(ha.FederatedIdentityCredentials, func(f adminclient.FederatedIdentityCredential) bool { return strings.EqualFold(f.Name, wf.Name) })
		if i < 0 {
			fields := []FieldChange{{Field: "issuer", To: wf.Issuer}, {Field: "subject", To: wf.Subject}}
			if len(wf.Audiences) > 0 && !slices.Equal(wf.Audiences, []string{directory.DefaultFederatedAudience}) {
				fields = append(fields, FieldChange{Field: "audiences", To: list(wf.Audiences)})
			}
			if wf.JWKSURI != "" {
				fields = append(fields, FieldChange{Field: "jwksUri", To: wf.JWKSURI})
			}
			if len(wf.Keys) > 0 {
				fields = append(fields, FieldChange{Field: "keys", To: keysSummary(wf.Keys)})
			}
			p.add(Change{Op: OpCreate, Kind: "federated credential", Name: path + "/" + wf.Name, Fields: fields, stage: stageCredentials,
				run: func(ctx context.Context, c Clients) error {
					_, err := c.Admin.AddFederatedCredential(ctx, tid, appRef, nf)
					return err
				}})
			continue
		}
		hf := ha.FederatedIdentityCredentials[i]
		var fields []FieldChange
		diff := func(field, from, to string) {
			if from != to {
				fields = append(fields, FieldChange{Field: field, From: from, To: to})
			}
		}
		diff("issuer", hf.Issuer, wf.Issuer)
		diff("subject", hf.Subject, wf.Subject)
		diff("audiences", list(hf.Audiences), list(wf.Audiences))
		diff("description", hf.Description, wf.Description)
		diff("jwksUri", hf.JWKSURI, wf.JWKSURI)
		if !sameJSON(hf.Keys, wf.Keys) {
			fields = append(fields, FieldChange{Field: "keys", From: keysSummary(hf.Keys), To: keysSummary(wf.Keys)})
		}
		if len(fields) == 0 {
			continue
		}
		id := hf.ID
		p.add(Change{Op: OpUpdate, Kind: "federated credential", Name: path + "/" + wf.Name, Fields: fields, stage: stageCredentials,
			run: func(ctx context.Context, c Clients) error {
				if err := c.Admin.RemoveFederatedCredential(ctx, tid, appRef, id); err != nil {
					return err
				}
				_, err := c.Admin.AddFederatedCredential(ctx, tid, appRef, nf)
				return err
			}})
	}
	if !p.opts.Prune {
		return
	}
	for _, hf := range ha.FederatedIdentityCredentials {
		if slices.ContainsFunc(wa.FederatedIdentityCredentials, func(f FederatedIdentityCredential) bool { return strings.EqualFold(f.Name, hf.Name) }) {
			continue
		}
		id := hf.ID
		p.add(Change{Op: OpDelete, Kind: "federated credential", Name: path + "/" + hf.Name, stage: stageDeleteCredentials,
			run: func(ctx context.Context, c Clients) error {
				return c.Admin.RemoveFederatedCredential(ctx, tid, appRef, id)
			}})
	}
}

// sameJSON reports whether a and b are the same JSON value (both empty
// counts as the same).
func sameJSON(a, b json.RawMessage) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	return reflect.DeepEqual(x, y)
}

// keysSummary names a JWK Set by its kids, for a plan.
func keysSummary(keys json.RawMessage) string {
	if len(keys) == 0 {
		return "none"
	}
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	json.Unmarshal(keys, &set)
	kids := make([]string, 0, len(set.Keys))
	for _, k := range set.Keys {
		kids = append(kids, k.Kid)
	}
	return "kids " + list(kids)
}

func describe(d string) string {
	if d == "" {
		return `""`
	}
	return d
}

func list(s []string) string { return "[" + strings.Join(s, ", ") + "]" }

// addSecret creates a client secret and writes it to saveTo, which it
// creates first (mode 0600, never overwriting) so that a secret is never
// created without a place to keep it.
func addSecret(ctx context.Context, admin Admin, tenant, app string, ns adminclient.NewSecret, saveTo string) error {
	if err := os.MkdirAll(filepath.Dir(saveTo), 0o700); err != nil {
		return fmt.Errorf("create the directory of the secret file %s: %w (the secret was not created)", saveTo, cleanPathError(err))
	}
	f, err := os.OpenFile(saveTo, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create the secret file %s: %w (the secret was not created)", saveTo, cleanPathError(err))
	}
	cred, err := admin.AddSecret(ctx, tenant, app, ns)
	if err != nil {
		f.Close()
		os.Remove(saveTo)
		return err
	}
	_, werr := f.WriteString(cred.SecretText + "\n")
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("client secret %s was created but writing it to %s failed: %w; remove it with 'portcullis app secret remove' and apply again", cred.ID, saveTo, werr)
	}
	return nil
}

func grantKey(client, resource, role string) string {
	return strings.ToLower(client) + "\x00" + strings.ToLower(resource) + "\x00" + role
}

func (p *planner) grants(wt *Tenant, ht *TenantState, roles map[string]map[string]bool) {
	tn, tid := wt.Name, ht.Tenant.Name
	have := map[string]adminclient.Grant{}
	for _, g := range ht.Grants {
		have[grantKey(p.appsByID[strings.ToLower(g.ClientAppID)].name, p.appsByID[strings.ToLower(g.ResourceAppID)].name, g.RoleValue)] = g
	}
	want := map[string]bool{}
	for _, g := range wt.Grants {
		k := grantKey(g.Client, g.Resource, g.Role)
		want[k] = true
		if _, ok := roles[strings.ToLower(g.Client)]; !ok {
			p.fail("%s: grant %s → %s %s: tenant %s will have no application named %q; declare it in applications", wt.at, g.Client, g.Resource, g.Role, tn, g.Client)
			continue
		}
		rr, ok := roles[strings.ToLower(g.Resource)]
		if !ok {
			p.fail("%s: grant %s → %s %s: tenant %s will have no application named %q; declare it in applications", wt.at, g.Client, g.Resource, g.Role, tn, g.Resource)
			continue
		}
		if !rr[g.Role] {
			p.fail("%s: grant %s → %s %s: application %q will have no app role %q; declare it in its appRoles", wt.at, g.Client, g.Resource, g.Role, g.Resource, g.Role)
			continue
		}
		if _, ok := have[k]; ok {
			continue
		}
		ng := adminclient.NewGrant{Client: g.Client, Resource: g.Resource, Role: g.Role}
		p.add(Change{Op: OpCreate, Kind: "grant", Name: fmt.Sprintf("%s/%s → %s %s", tn, g.Client, g.Resource, g.Role), stage: stageGrants,
			run: func(ctx context.Context, c Clients) error { _, err := c.Admin.AddGrant(ctx, tid, ng); return err }})
	}
	if !p.opts.Prune {
		return
	}
	for _, g := range ht.Grants {
		cl, rs := p.appsByID[strings.ToLower(g.ClientAppID)], p.appsByID[strings.ToLower(g.ResourceAppID)]
		if want[grantKey(cl.name, rs.name, g.RoleValue)] {
			continue
		}
		if p.deletedApps[strings.ToLower(tn+"/"+g.ClientAppID)] || p.deletedApps[strings.ToLower(tn+"/"+g.ResourceAppID)] {
			continue // removed with the application
		}
		id := g.ID
		ch := Change{Op: OpDelete, Kind: "grant", Name: fmt.Sprintf("%s/%s → %s %s", tn, cl.name, rs.name, g.RoleValue), stage: stageDeleteGrants,
			run: func(ctx context.Context, c Clients) error { return c.Admin.RemoveGrant(ctx, tid, id) }}
		if strings.EqualFold(g.ClientAppID, p.opts.CallerAppID) {
			ch.Refused = "this command authenticates as that client; add the grant to the files"
		}
		p.add(ch)
	}
}

// lastAdmin refuses the deletions that would leave a tenant holding the
// management API without an administrator: a client holding the
// Portcullis.Admin grant and a credential (the rule directory.Service
// enforces in its transaction; checked here so that nothing is applied).
func (p *planner) lastAdmin() {
	deleted := map[string]bool{} // kind + name of planned deletes
	created := map[string]bool{}
	for _, c := range p.plan.Changes {
		switch c.Op {
		case OpDelete:
			deleted[c.Kind+"\x00"+c.Name] = true
		case OpCreate:
			created[c.Kind+"\x00"+c.Name] = true
		}
	}
	for _, ht := range p.have.Tenants {
		tn := ht.Tenant.Name
		if p.deletedTenants[strings.ToLower(tn)] {
			continue
		}
		var mgmt *adminclient.Application
		for i := range ht.Applications {
			if hasURI(ht.Applications[i], directory.ManagementIdentifierURI) {
				mgmt = &ht.Applications[i]
			}
		}
		if mgmt == nil {
			continue
		}
		before, after := 0, 0
		var causes []string
		for _, g := range ht.Grants {
			if !strings.EqualFold(g.ResourceAppID, mgmt.AppID) || g.RoleValue != directory.AdminRoleValue {
				continue
			}
			var client *adminclient.Application
			for i := range ht.Applications {
				if strings.EqualFold(ht.Applications[i].AppID, g.ClientAppID) {
					client = &ht.Applications[i]
				}
			}
			if client == nil || len(client.PasswordCredentials)+len(client.KeyCredentials) == 0 {
				continue
			}
			before++
			appPath := tn + "/" + client.DisplayName
			gName := fmt.Sprintf("%s/%s → %s %s", tn, client.DisplayName, mgmt.DisplayName, g.RoleValue)
			switch {
			case p.deletedApps[strings.ToLower(tn+"/"+client.AppID)]:
				causes = append(causes, "application "+appPath)
				continue
			case deleted["grant\x00"+gName]:
				causes = append(causes, "grant "+gName)
				continue
			}
			creds := 0
			for _, s := range client.PasswordCredentials {
				if !deleted["client secret\x00"+appPath+"/"+describe(s.Description)+" ("+s.Hint+"…)"] {
					creds++
				}
			}
			for _, k := range client.KeyCredentials {
				if !deleted["certificate credential\x00"+appPath+"/"+k.Thumbprint] {
					creds++
				}
			}
			for name := range created {
				if strings.HasPrefix(name, "client secret\x00"+appPath+"/") || strings.HasPrefix(name, "certificate credential\x00"+appPath+"/") {
					creds++
				}
			}
			if creds == 0 {
				causes = append(causes, "the credentials of "+appPath)
				continue
			}
			after++
		}
		if before == 0 || after > 0 {
			continue
		}
		// New admin grants to clients with credentials count too.
		for name := range created {
			if strings.HasPrefix(name, "grant\x00"+tn+"/") && strings.HasSuffix(name, " → "+mgmt.DisplayName+" "+directory.AdminRoleValue) {
				after++
			}
		}
		if after > 0 {
			continue
		}
		msg := fmt.Sprintf("it would leave the admin API without an administrator (a client holding %s with a credential); keep one in the files", directory.AdminRoleValue)
		for i := range p.plan.Changes {
			c := &p.plan.Changes[i]
			if c.Op != OpDelete || c.Refused != "" {
				continue
			}
			for _, cause := range causes {
				if c.Kind+" "+c.Name == cause || strings.HasPrefix(cause, "the credentials of ") && strings.HasPrefix(c.Name, strings.TrimPrefix(cause, "the credentials of ")+"/") {
					c.Refused = msg
				}
			}
		}
	}
}

// comparableJSON is v's JSON without server fields, for comparison.
func comparableJSON(v any) (map[string]json.RawMessage, error) {
	b, err := withoutServerFields(v)
	if err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	err = json.Unmarshal(b, &m)
	return m, err
}

// changedFields compares two JSON objects field by field.
func changedFields(have, want map[string]json.RawMessage) []FieldChange {
	keys := map[string]bool{}
	for k := range have {
		keys[k] = true
	}
	for k := range want {
		keys[k] = true
	}
	var out []FieldChange
	for _, k := range sortedKeys(keys) {
		if !jsonEqual(have[k], want[k]) {
			out = append(out, FieldChange{Field: k, From: clip(string(have[k])), To: clip(string(want[k]))})
		}
	}
	return out
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func jsonEqual(a, b json.RawMessage) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return bytes.Equal(xb, yb)
}

func clip(s string) string {
	if s == "" {
		return "(none)"
	}
	if len(s) > 120 {
		return s[:117] + "…"
	}
	return s
}

func (p *planner) gateway(wt *Tenant, ht *TenantState) {
	tn, tid := wt.Name, ht.Tenant.Name
	nm := newNames(p.have)
	for _, wa := range wt.APIs {
		want, err := comparableJSON(nm.api(wa.API))
		if err != nil {
			p.fail("%s: API %q: %v", wt.at, wa.Name, err)
			continue
		}
		api := wa.API
		i := slices.IndexFunc(ht.APIs, func(a adminclient.API) bool { return strings.EqualFold(a.Name, wa.Name) })
		if i < 0 {
			p.add(Change{Op: OpCreate, Kind: "API", Name: tn + "/" + wa.Name, stage: stageGateway,
				run: func(ctx context.Context, c Clients) error { _, err := c.Admin.CreateAPI(ctx, tid, api); return err }})
			continue
		}
		have, err := comparableJSON(nm.api(ht.APIs[i]))
		if err != nil {
			p.fail("API %s/%s on the server: %v", tn, wa.Name, err)
			continue
		}
		if fields := changedFields(have, want); len(fields) > 0 {
			rev := ht.APIs[i].Revision
			api.Name = ht.APIs[i].Name
			p.add(Change{Op: OpUpdate, Kind: "API", Name: tn + "/" + wa.Name, Fields: fields, stage: stageGateway,
				run: func(ctx context.Context, c Clients) error {
					_, err := c.Admin.UpdateAPI(ctx, tid, api, rev)
					return err
				}})
		}
	}
	for _, wc := range wt.Connectors {
		want, err := comparableJSON(nm.connector(tn, wc.Connector))
		if err != nil {
			p.fail("%s: connector %q: %v", wt.at, wc.Name, err)
			continue
		}
		conn := wc.Connector
		i := slices.IndexFunc(ht.Connectors, func(a adminclient.Connector) bool { return strings.EqualFold(a.Name, wc.Name) })
		if i < 0 {
			p.add(Change{Op: OpCreate, Kind: "connector", Name: tn + "/" + wc.Name, stage: stageGateway,
				run: func(ctx context.Context, c Clients) error {
					_, err := c.Admin.CreateConnector(ctx, tid, conn)
					return err
				}})
			continue
		}
		have, err := comparableJSON(nm.connector(tn, ht.Connectors[i]))
		if err != nil {
			p.fail("connector %s/%s on the server: %v", tn, wc.Name, err)
			continue
		}
		if fields := changedFields(have, want); len(fields) > 0 {
			rev := ht.Connectors[i].Revision
			conn.Name = ht.Connectors[i].Name
			p.add(Change{Op: OpUpdate, Kind: "connector", Name: tn + "/" + wc.Name, Fields: fields, stage: stageGateway,
				run: func(ctx context.Context, c Clients) error {
					_, err := c.Admin.UpdateConnector(ctx, tid, conn, rev)
					return err
				}})
		}
	}
	if !p.opts.Prune {
		return
	}
	for _, ha := range ht.APIs {
		if slices.ContainsFunc(wt.APIs, func(a API) bool { return strings.EqualFold(a.Name, ha.Name) }) {
			continue
		}
		name := ha.Name
		p.add(Change{Op: OpDelete, Kind: "API", Name: tn + "/" + name, stage: stageDeleteGateway,
			run: func(ctx context.Context, c Clients) error { return c.Admin.DeleteAPI(ctx, tid, name) }})
	}
	for _, hc := range ht.Connectors {
		if slices.ContainsFunc(wt.Connectors, func(a Connector) bool { return strings.EqualFold(a.Name, hc.Name) }) {
			continue
		}
		name := hc.Name
		p.add(Change{Op: OpDelete, Kind: "connector", Name: tn + "/" + name, stage: stageDeleteGateway,
			run: func(ctx context.Context, c Clients) error { return c.Admin.DeleteConnector(ctx, tid, name) }})
	}
}
