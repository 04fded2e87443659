package directory

// The checks below are the Service's own field rules, exported for callers
// that validate a whole configuration before sending any of it (the
// declarative `apply`): the Service applies them again on every change.

// ValidateTenantName checks a tenant name as CreateTenant does.
func ValidateTenantName(name string) error { return validateTenantName(name) }

// ValidateDisplayName checks an application's display name as
// CreateApplication does.
func ValidateDisplayName(name string) error {
	_, err := normalizeDisplayName("displayName", name)
	return err
}

// ValidateIdentifierURIs checks an application's identifier URIs as
// CreateApplication does.
func ValidateIdentifierURIs(uris []string) error { return validateIdentifierURIs(uris) }

// ValidateAccessTokenLifetime checks accessTokenLifetimeSeconds.
func ValidateAccessTokenLifetime(seconds int64) error {
	_, err := validateAccessTokenLifetime(seconds)
	return err
}

// ValidateRoleValue checks an app role value.
func ValidateRoleValue(v string) error { return validateRoleValue(v) }

// ValidateSecretLifetime checks expiresInSeconds of a new client secret
// (0 means the default).
func ValidateSecretLifetime(seconds int64) error {
	if seconds == 0 {
		return nil
	}
	_, err := validateSecretLifetime(&seconds)
	return err
}

// NormalizeAPI checks a gateway API and fills in its defaults as
// CreateAPI does before it resolves references (tenants, vault objects)
// in its transaction.
func NormalizeAPI(in API) (API, error) { return normalizeAPI(in) }

// NormalizeConnector checks an API connector and fills in its defaults as
// CreateConnector does before it resolves references (applications, vault
// objects) in its transaction.
func NormalizeConnector(in Connector) (Connector, error) { return normalizeConnector(in) }
