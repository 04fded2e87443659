package identityagent

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strings"
)

// Identity is one application identity the agent may hand out: the
// application (client) id it requests tokens as, and for a user-assigned
// identity an optional name that callers may select it by (mi_res_id).
type Identity struct {
	ClientID string
	Name     string // "" for none; only for user-assigned identities
}

// guidPattern is an application (client) id as Portcullis and Entra issue
// them.
var guidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// namePattern is what an identity name may look like: the last segment of
// an Azure resource id of a user-assigned identity.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

// ParseIdentity reads "CLIENT_ID" or "NAME=CLIENT_ID" (the form of the
// --user-assigned flag).
func ParseIdentity(s string) (Identity, error) {
	var id Identity
	if name, cid, ok := strings.Cut(s, "="); ok {
		id = Identity{Name: strings.TrimSpace(name), ClientID: strings.TrimSpace(cid)}
		if !namePattern.MatchString(id.Name) {
			return Identity{}, fmt.Errorf("identity %q: the name %q must be 1-128 letters, digits, '-', '_' or '.', starting with a letter or digit", s, id.Name)
		}
	} else {
		id = Identity{ClientID: strings.TrimSpace(s)}
	}
	if !guidPattern.MatchString(id.ClientID) {
		return Identity{}, fmt.Errorf("identity %q: %q is not an application (client) id; give the GUID that 'portcullis app show' prints as appId, optionally as NAME=APPID", s, id.ClientID)
	}
	id.ClientID = strings.ToLower(id.ClientID)
	return id, nil
}

// Identities is what a host may hand out: the system-assigned identity
// (nil: none) and the user-assigned ones.
type Identities struct {
	SystemAssigned *Identity
	UserAssigned   []Identity
}

// Validate checks that there is at least one identity and that client ids
// and names are unique.
func (ids Identities) Validate() error {
	if ids.SystemAssigned == nil && len(ids.UserAssigned) == 0 {
		return errors.New("no identity to hand out: give --system-assigned APPID and/or --user-assigned [NAME=]APPID")
	}
	seen := map[string]bool{}
	names := map[string]bool{}
	all := ids.UserAssigned
	if ids.SystemAssigned != nil {
		if ids.SystemAssigned.Name != "" {
			return errors.New("the system-assigned identity has no name: give it as --system-assigned APPID")
		}
		all = append([]Identity{*ids.SystemAssigned}, all...)
	}
	for _, id := range all {
		if !guidPattern.MatchString(id.ClientID) {
			return fmt.Errorf("identity %q is not an application (client) id", id.ClientID)
		}
		k := strings.ToLower(id.ClientID)
		if seen[k] {
			return fmt.Errorf("identity %s is given twice: list each application once", id.ClientID)
		}
		seen[k] = true
		if id.Name != "" {
			n := strings.ToLower(id.Name)
			if names[n] {
				return fmt.Errorf("identity name %q is given twice: names select identities and must be unique", id.Name)
			}
			names[n] = true
		}
	}
	return nil
}

// String lists the identities, e.g. "system-assigned 0c4d…, user-assigned
// 7a8b… (reports)".
func (ids Identities) String() string {
	var parts []string
	if s := ids.SystemAssigned; s != nil {
		parts = append(parts, "system-assigned "+s.ClientID)
	}
	for _, u := range ids.UserAssigned {
		p := "user-assigned " + u.ClientID
		if u.Name != "" {
			p += " (" + u.Name + ")"
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, ", ")
}

// LoopbackAddress checks that addr (host:port) is a loopback address and
// returns it with "localhost" replaced by 127.0.0.1. The agent never
// listens elsewhere: its protocol is plain HTTP and its only caller
// authentication is a per-host header value.
func LoopbackAddress(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("listen address %q: want HOST:PORT on loopback, e.g. 127.0.0.1:40380", addr)
	}
	if strings.EqualFold(host, "localhost") {
		host = "127.0.0.1"
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.IsLoopback() || ip.Zone() != "" {
		return "", fmt.Errorf("listen address %q is not a loopback address: the identity agent only listens on 127.0.0.1 or [::1] (other hosts must never reach it)", addr)
	}
	return net.JoinHostPort(ip.String(), port), nil
}
