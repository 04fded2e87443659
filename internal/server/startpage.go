package server

import (
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"

	"github.com/portcullis/portcullis/docs"
	"github.com/portcullis/portcullis/internal/buildinfo"
	"github.com/portcullis/portcullis/internal/vault"
	"github.com/portcullis/portcullis/internal/vault/kvapi"
)

// startPage is what a browser (or curl) pointed at the server's public URL
// sees: where discovery, the vault and the documentation are.
var startPage = template.Must(template.New("start").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Portcullis</title>
<style>body{font-family:system-ui,sans-serif;max-width:46em;margin:2em auto;padding:0 1em;line-height:1.5}code{background:#f3f3f3;padding:0 .2em}</style>
</head><body>
<h1>Portcullis</h1>
<p>{{.Version}}</p>
<h2>Token service (default tenant)</h2>
<ul>
<li>Issuer: <code>{{.Issuer}}</code></li>
<li><a href="{{.Discovery}}">OpenID Connect discovery</a></li>
<li><a href="{{.JWKS}}">Signing keys (JWKS)</a></li>
<li>Token endpoint: <code>{{.Token}}</code></li>
</ul>
<h2>Vault</h2>
<ul>
<li>Default vault (path form, every client): <code>{{.Vault}}</code></li>
<li>Key Vault REST API: <code>GET {{.Vault}}/secrets/NAME?api-version=7.5</code> with a bearer token for <code>{{.Base}}/.default</code></li>
</ul>
<h2>Operations</h2>
<ul>
<li><a href="/healthz">/healthz</a> and <a href="/readyz">/readyz</a></li>
<li><a href="/admin/v1/openapi.json">Admin API (OpenAPI)</a>; the CLI: <code>portcullis --help</code></li>
</ul>
<h2>Documentation</h2>
<ul>
{{range .Docs}}<li><a href="/docs/{{.}}">{{.}}</a></li>
{{end}}</ul>
</body></html>
`))

type startPageData struct {
	Version, Base, Issuer, Discovery, JWKS, Token, Vault string
	Docs                                                 []string
}

// registerStartPage serves GET / (the start page) and GET /docs/NAME.md
// (this version's documentation, as text) on mux; public is the public URL
// ("" = the request's Host, as the token service does), tenantID the
// default tenant.
func registerStartPage(mux *http.ServeMux, public, tenantID string) {
	names, _ := fs.Glob(docs.Files, "*.md")
	version := buildinfo.Read().String()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		base := public
		if base == "" {
			base = "https://" + r.Host
		}
		data := startPageData{
			Version:   version,
			Base:      base,
			Issuer:    base + "/" + tenantID + "/v2.0",
			Discovery: base + "/" + tenantID + "/v2.0/.well-known/openid-configuration",
			JWKS:      base + "/" + tenantID + "/discovery/v2.0/keys",
			Token:     base + "/" + tenantID + "/oauth2/v2.0/token",
			Vault:     kvapi.PathVaultURL(base, vault.DefaultVault),
			Docs:      names,
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
		_ = startPage.Execute(w, data)
	})
	mux.HandleFunc("GET /docs/{name}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		b, err := fs.ReadFile(docs.Files, path.Clean(name))
		if err != nil || !strings.HasSuffix(name, ".md") || strings.Contains(name, "/") {
			http.Error(w, "no such document; the list is at /", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write(b)
	})
}
