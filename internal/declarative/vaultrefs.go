package declarative

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
)

// vaultRef matches a vault reference in an API or a connector
// (vault://VAULT/secrets|certificates|keys/NAME[/VERSION]).
var vaultRef = regexp.MustCompile(`vault://([A-Za-z0-9-]+)/(secrets|certificates|keys)/([A-Za-z0-9-]+)`)

// checkVaultReferences stops a plan whose APIs and connectors would
// reference a vault object that does not exist after it (not declared,
// not on the server, or pruned): the server would refuse that change
// midway.
func (p *planner) checkVaultReferences() {
	type user struct{ at, what string }
	refs := map[string][]user{} // vault/kind/name (lower case) → users
	for _, t := range p.want.Tenants {
		for _, a := range t.APIs {
			b, _ := json.Marshal(a.API)
			for _, m := range vaultRef.FindAllStringSubmatch(string(b), -1) {
				k := strings.ToLower(m[1] + "/" + m[2] + "/" + m[3])
				refs[k] = append(refs[k], user{t.at, "API " + t.Name + "/" + a.Name})
			}
		}
		for _, c := range t.Connectors {
			b, _ := json.Marshal(c.Connector)
			for _, m := range vaultRef.FindAllStringSubmatch(string(b), -1) {
				k := strings.ToLower(m[1] + "/" + m[2] + "/" + m[3])
				refs[k] = append(refs[k], user{t.at, "connector " + t.Name + "/" + c.Name})
			}
		}
	}
	for k, users := range refs {
		parts := strings.SplitN(k, "/", 3)
		vn, kind, name := parts[0], parts[1], parts[2]
		if p.vaultObjectAfterPlan(vn, kind, name) {
			continue
		}
		for _, u := range users {
			p.fail("%s: %s references vault://%s/%s/%s, which will not exist; declare it in the vault's %s (or keep it there)", u.at, u.what, vn, kind, name, kind)
		}
	}
}

// vaultObjectAfterPlan says whether the vault object exists once the plan
// ran: declared in the files, or on the server and not pruned.
func (p *planner) vaultObjectAfterPlan(vn, kind, name string) bool {
	for _, wv := range p.want.Vaults {
		if !strings.EqualFold(wv.Name, vn) {
			continue
		}
		var names []string
		switch kind {
		case "secrets":
			for _, s := range wv.Secrets {
				names = append(names, s.Name)
			}
		case "certificates":
			for _, c := range wv.Certificates {
				names = append(names, c.Name)
			}
		case "keys":
			for _, k := range wv.Keys {
				names = append(names, k.Name)
			}
		}
		if slices.ContainsFunc(names, func(n string) bool { return strings.EqualFold(n, name) }) {
			return true
		}
	}
	hv := findVault(p.have.Vaults, vn)
	if hv == nil {
		return false
	}
	for _, c := range p.plan.Changes {
		if c.Op == OpDelete && strings.EqualFold(c.Name, vn+"/"+name) && strings.EqualFold(c.Kind, "vault "+strings.TrimSuffix(kind, "s")) {
			return false
		}
	}
	switch kind {
	case "secrets":
		return slices.ContainsFunc(hv.Secrets, func(s SecretState) bool { return strings.EqualFold(s.Name, name) })
	case "certificates":
		return slices.ContainsFunc(hv.Certificates, func(s CertificateState) bool { return strings.EqualFold(s.Name, name) })
	}
	return slices.ContainsFunc(hv.Keys, func(s KeyState) bool { return strings.EqualFold(s.Name, name) })
}
