package sts

import (
	"encoding/json"
	"net/http"
	"strings"
)

// discoveryDocument is the OpenID Provider metadata Entra serves at
// /{tenant}/v2.0/.well-known/openid-configuration (msal-protocol.md §10).
// MSAL requires issuer, token_endpoint and authorization_endpoint; the
// authorization endpoint itself is not served (no interactive flows).
type discoveryDocument struct {
	TokenEndpoint                    string   `json:"token_endpoint"`
	TokenEndpointAuthMethods         []string `json:"token_endpoint_auth_methods_supported"`
	TokenEndpointAuthSigningAlgs     []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	JWKSURI                          string   `json:"jwks_uri"`
	ResponseModesSupported           []string `json:"response_modes_supported"`
	SubjectTypesSupported            []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported []string `json:"id_token_signing_alg_values_supported"`
	ResponseTypesSupported           []string `json:"response_types_supported"`
	ScopesSupported                  []string `json:"scopes_supported"`
	GrantTypesSupported              []string `json:"grant_types_supported"`
	Issuer                           string   `json:"issuer"`
	RequestURIParameterSupported     bool     `json:"request_uri_parameter_supported"`
	AuthorizationEndpoint            string   `json:"authorization_endpoint"`
	ClaimsSupported                  []string `json:"claims_supported"`
	TenantRegionScope                *string  `json:"tenant_region_scope"`
	CloudInstanceName                string   `json:"cloud_instance_name"`
}

var (
	authMethodsSupported = []string{MethodSecretPost, MethodPrivateKeyJWT, MethodSecretBasic}
	claimsSupported      = []string{"aud", "iss", "iat", "nbf", "exp", "azp", "azpacr", "appid", "appidacr", "idtyp", "oid", "roles", "sub", "tid", "uti", "ver"}
)

// handleDiscovery serves the tenant's OpenID discovery document, with
// every URL naming the tenant by id even when the request used its name.
func (s *Server) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	base := s.baseURL(r)
	seg := r.PathValue("tenant")
	t, ok := s.cur.Load().snap.Tenant(seg)
	if !ok {
		s.writeError(w, r, base, unknownTenant(seg), false)
		return
	}
	tb := base + "/" + t.ID
	host := strings.TrimPrefix(strings.TrimPrefix(base, "https://"), "http://")
	doc := discoveryDocument{
		TokenEndpoint:                    tb + "/oauth2/v2.0/token",
		TokenEndpointAuthMethods:         authMethodsSupported,
		TokenEndpointAuthSigningAlgs:     assertionAlgorithms,
		JWKSURI:                          tb + "/discovery/v2.0/keys",
		ResponseModesSupported:           []string{"query", "fragment", "form_post"},
		SubjectTypesSupported:            []string{"pairwise"},
		IDTokenSigningAlgValuesSupported: []string{"RS256"},
		ResponseTypesSupported:           []string{"code", "id_token", "code id_token", "id_token token"},
		ScopesSupported:                  []string{"openid", "profile", "email", "offline_access"},
		GrantTypesSupported:              []string{"client_credentials"},
		Issuer:                           tb + "/v2.0",
		AuthorizationEndpoint:            tb + "/oauth2/v2.0/authorize",
		ClaimsSupported:                  claimsSupported,
		CloudInstanceName:                host,
	}
	writeJSON(w, doc, "public, max-age=300")
}

// handleJWKS serves the tenant's published signing keys: the next key
// (before it signs), the active one, and retired ones still within their
// window. The short max-age lets validators see an emergency rotation soon.
func (s *Server) handleJWKS(w http.ResponseWriter, r *http.Request) {
	base := s.baseURL(r)
	seg := r.PathValue("tenant")
	st := s.cur.Load()
	t, ok := st.snap.Tenant(seg)
	if !ok {
		s.writeError(w, r, base, unknownTenant(seg), false)
		return
	}
	now := s.now()
	issuer := base + "/" + t.ID + "/v2.0"
	set := struct {
		Keys []jwk `json:"keys"`
	}{Keys: []jwk{}}
	// Newest first, as validators that try keys in order find the signer sooner.
	ks := st.keys[strings.ToLower(t.ID)]
	for i := len(ks) - 1; i >= 0; i-- {
		if ks[i].published(now) {
			set.Keys = append(set.Keys, ks[i].jwk(issuer))
		}
	}
	writeJSON(w, set, "public, max-age=60")
}

func writeJSON(w http.ResponseWriter, v any, cacheControl string) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "internal error encoding the response", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", cacheControl)
	w.Write(b)
}
