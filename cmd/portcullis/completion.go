package main

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/portcullis/portcullis/internal/adminclient"
	"github.com/portcullis/portcullis/internal/vault"
	"github.com/portcullis/portcullis/internal/vaultclient"
)

// Shell completion (portcullis completion bash|zsh|fish|powershell, which
// cobra provides) completes the names of applications, app roles, vault
// objects, vaults, tenants, gateway APIs and connectors by asking the
// server, with the same --addr/--data/--tenant/--vault flags as the command
// being completed. A server that does not answer completes nothing: the
// shell must never print an error in the middle of a command line.

// completionTimeout bounds one completion's calls to the server.
const completionTimeout = 3 * time.Second

// nameLister lists candidate names for the command being completed.
type nameLister func(ctx context.Context, cmd *cobra.Command, args []string) []string

// addCompletions walks the command tree and gives every command whose
// usage names an APP, ROLE, TENANT or vault object NAME argument, and every
// --app/--client/--resource/--role/--tenant/--vault flag, a completion
// function.
func addCompletions(root *cobra.Command) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Runnable() && c.ValidArgsFunction == nil && c.Name() != "create" {
			if args := positional(c.Use); len(args) > 0 {
				c.ValidArgsFunction = completeArgs(argListers(c, args))
			}
		}
		for _, name := range []string{"app", "client", "resource"} {
			if f := ownFlag(c, name); f != nil && f.Value.Type() == "string" {
				_ = c.RegisterFlagCompletionFunc(name, completeWith(listApps))
			}
		}
		if ownFlag(c, "role") != nil {
			if strings.HasPrefix(c.CommandPath(), "portcullis vault role") {
				_ = c.RegisterFlagCompletionFunc("role", completeWith(listVaultRoles))
			} else if ownFlag(c, "resource") != nil {
				_ = c.RegisterFlagCompletionFunc("role", completeWith(listResourceRoles))
			}
		}
		if f := ownFlag(c, "tenant"); f != nil && f.Value.Type() == "string" {
			_ = c.RegisterFlagCompletionFunc("tenant", completeWith(listTenants))
		}
		if f := ownFlag(c, "vault"); f != nil && f.Value.Type() == "string" {
			_ = c.RegisterFlagCompletionFunc("vault", completeWith(listVaults))
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// ownFlag returns the flag name that c itself declares (local or
// persistent), nil if it inherits it or has none.
func ownFlag(c *cobra.Command, name string) *pflag.Flag {
	if f := c.LocalNonPersistentFlags().Lookup(name); f != nil {
		return f
	}
	return c.PersistentFlags().Lookup(name)
}

// positional returns the argument placeholders of a usage line ("show APP"
// → [APP]; "remove APP ROLE" → [APP ROLE]; "[NAME]" counts as NAME), up to
// the first flag.
func positional(use string) []string {
	var out []string
	for _, w := range strings.Fields(use)[1:] {
		if strings.HasPrefix(w, "-") || strings.HasPrefix(w, "(") {
			break
		}
		out = append(out, strings.Trim(w, "[]."))
	}
	return out
}

// argListers maps each placeholder of c's usage to what completes it.
func argListers(c *cobra.Command, args []string) []nameLister {
	group := ""
	for p := c.Parent(); p != nil && p.Parent() != nil; p = p.Parent() {
		group = p.Name() // the top-level group: app, secret, certificate, …
	}
	out := make([]nameLister, len(args))
	for i, a := range args {
		switch {
		case a == "APP":
			out[i] = listApps
		case a == "ROLE" && i == 1 && args[0] == "APP":
			out[i] = listAppRoles
		case a == "TENANT":
			out[i] = listTenants
		case a == "NAME":
			out[i] = map[string]nameLister{
				"secret": listSecrets, "certificate": listCertificates, "ca": listCertificates, "key": listKeys,
				"vault": listVaults, "api": listAPIs, "connector": listConnectors,
			}[group]
		}
	}
	return out
}

// completeArgs completes the positional argument being typed with the
// lister of its position.
func completeArgs(listers []nameLister) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) >= len(listers) || listers[len(args)] == nil {
			return nil, cobra.ShellCompDirectiveDefault // e.g. a FILE: the shell completes paths
		}
		return filterPrefix(listWithTimeout(cmd, args, listers[len(args)]), toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

func completeWith(l nameLister) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		return filterPrefix(listWithTimeout(cmd, args, l), toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

func listWithTimeout(cmd *cobra.Command, args []string, l nameLister) []string {
	ctx, cancel := context.WithTimeout(context.Background(), completionTimeout)
	defer cancel()
	return l(ctx, cmd, args)
}

func filterPrefix(names []string, prefix string) []string {
	var out []string
	for _, n := range names {
		if strings.HasPrefix(strings.ToLower(n), strings.ToLower(prefix)) {
			out = append(out, n)
		}
	}
	return out
}

// flag returns the value of a (possibly inherited) string flag of cmd.
func flag(cmd *cobra.Command, name string) string {
	v, _ := cmd.Flags().GetString(name)
	return v
}

func locate(cmd *cobra.Command) adminclient.Flags {
	return adminclient.Flags{Addr: flag(cmd, "addr"), CA: flag(cmd, "ca"), DataDir: flag(cmd, "data")}
}

func tenantOf(cmd *cobra.Command) string {
	if t := flag(cmd, "tenant"); t != "" {
		return t
	}
	return adminclient.DefaultTenant
}

func vaultOf(cmd *cobra.Command) string {
	if v := flag(cmd, "vault"); v != "" {
		return v
	}
	return vault.DefaultVault
}

func adminClient(cmd *cobra.Command) *adminclient.Client {
	cfg, err := adminclient.LoadConfig(locate(cmd))
	if err != nil {
		return nil
	}
	c, err := adminclient.New(cfg)
	if err != nil {
		return nil
	}
	return c
}

func vaultClient(cmd *cobra.Command) *vaultclient.Client {
	c, err := newVaultClient(locate(cmd))
	if err != nil {
		return nil
	}
	return c
}

func listApps(ctx context.Context, cmd *cobra.Command, _ []string) []string {
	c := adminClient(cmd)
	if c == nil {
		return nil
	}
	apps, _ := c.ListApplications(ctx, tenantOf(cmd))
	var out []string
	for _, a := range apps {
		out = append(out, a.DisplayName)
		out = append(out, a.IdentifierURIs...)
	}
	return out
}

func rolesOf(ctx context.Context, cmd *cobra.Command, app string) []string {
	c := adminClient(cmd)
	if c == nil || app == "" {
		return nil
	}
	roles, _ := c.ListAppRoles(ctx, tenantOf(cmd), app)
	var out []string
	for _, r := range roles {
		out = append(out, r.Value)
	}
	return out
}

func listAppRoles(ctx context.Context, cmd *cobra.Command, args []string) []string {
	return rolesOf(ctx, cmd, args[0])
}

func listResourceRoles(ctx context.Context, cmd *cobra.Command, _ []string) []string {
	return rolesOf(ctx, cmd, flag(cmd, "resource"))
}

func listVaultRoles(context.Context, *cobra.Command, []string) []string {
	var out []string
	for _, r := range vault.Roles() {
		out = append(out, r.Name)
	}
	return out
}

func listTenants(ctx context.Context, cmd *cobra.Command, _ []string) []string {
	c := adminClient(cmd)
	if c == nil {
		return nil
	}
	ts, _ := c.ListTenants(ctx)
	var out []string
	for _, t := range ts {
		out = append(out, t.Name)
	}
	return out
}

func listAPIs(ctx context.Context, cmd *cobra.Command, _ []string) []string {
	c := adminClient(cmd)
	if c == nil {
		return nil
	}
	as, _ := c.ListAPIs(ctx, tenantOf(cmd))
	var out []string
	for _, a := range as {
		out = append(out, a.Name)
	}
	return out
}

func listConnectors(ctx context.Context, cmd *cobra.Command, _ []string) []string {
	c := adminClient(cmd)
	if c == nil {
		return nil
	}
	cs, _ := c.ListConnectors(ctx, tenantOf(cmd))
	var out []string
	for _, x := range cs {
		out = append(out, x.Name)
	}
	return out
}

func listVaults(ctx context.Context, cmd *cobra.Command, _ []string) []string {
	c := vaultClient(cmd)
	if c == nil {
		return nil
	}
	vs, _ := c.ListVaults(ctx)
	var out []string
	for _, v := range vs {
		out = append(out, v.Name)
	}
	return out
}

func listSecrets(ctx context.Context, cmd *cobra.Command, _ []string) []string {
	c := vaultClient(cmd)
	if c == nil {
		return nil
	}
	ss, _ := c.ListSecrets(ctx, vaultOf(cmd))
	var out []string
	for _, s := range ss {
		n, _ := objectName(s.ID)
		out = append(out, n)
	}
	return out
}

func listCertificates(ctx context.Context, cmd *cobra.Command, _ []string) []string {
	c := vaultClient(cmd)
	if c == nil {
		return nil
	}
	cs, _ := c.ListCertificates(ctx, vaultOf(cmd))
	var out []string
	for _, x := range cs {
		n, _ := objectName(x.ID)
		out = append(out, n)
	}
	return out
}

func listKeys(ctx context.Context, cmd *cobra.Command, _ []string) []string {
	c := vaultClient(cmd)
	if c == nil {
		return nil
	}
	ks, _ := c.ListKeys(ctx, vaultOf(cmd))
	var out []string
	for _, k := range ks {
		n, _ := objectName(k.ID())
		out = append(out, n)
	}
	return out
}
