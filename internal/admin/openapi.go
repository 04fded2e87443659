package admin

import (
	_ "embed"
	"net/http"
)

// openAPIDocument is the OpenAPI 3.0 description of every route in routes();
// TestOpenAPI_DescribesExactlyTheRegisteredRoutes keeps the two in step.
//
//go:embed openapi.json
var openAPIDocument []byte

// OpenAPIDocument returns the OpenAPI 3.0 document of the admin API (JSON).
func OpenAPIDocument() []byte { return append([]byte(nil), openAPIDocument...) }

func (a *API) openAPI(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	w.Write(openAPIDocument)
	return nil
}
