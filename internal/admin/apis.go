package admin

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/portcullis/portcullis/internal/audit"
	"github.com/portcullis/portcullis/internal/directory"
)

// Gateway APIs: the body of every operation is a directory.API in its JSON
// form. tenantId, revision, createdAt and updatedAt are read-only: accepted
// on input (so that a GET can be edited and PUT back) and ignored.

func apiRoutes() []route {
	const apis = basePath + "/tenants/{tenant}/apis"
	return []route{
		{"GET", apis, false, func(a *API) handlerFunc { return a.listAPIs }},
		{"POST", apis, false, func(a *API) handlerFunc { return a.createAPI }},
		{"GET", apis + "/{name}", false, func(a *API) handlerFunc { return a.getAPI }},
		{"PUT", apis + "/{name}", false, func(a *API) handlerFunc { return a.replaceAPI }},
		{"DELETE", apis + "/{name}", false, func(a *API) handlerFunc { return a.deleteAPI }},
	}
}

func (a *API) listAPIs(w http.ResponseWriter, r *http.Request) error {
	apis, err := a.dir.APIs(r.Context(), r.PathValue("tenant"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list(apis))
	return nil
}

// apiLocation is the URL path of an API.
func apiLocation(tenant, name string) string {
	return basePath + "/tenants/" + url.PathEscape(tenant) + "/apis/" + url.PathEscape(name)
}

func etag(rev int64) string { return `"` + strconv.FormatInt(rev, 10) + `"` }

func (a *API) getAPI(w http.ResponseWriter, r *http.Request) error {
	api, err := a.dir.API(r.Context(), r.PathValue("tenant"), r.PathValue("name"))
	if err != nil {
		return err
	}
	w.Header().Set("ETag", etag(api.Revision))
	writeJSON(w, http.StatusOK, api)
	return nil
}

func (a *API) createAPI(w http.ResponseWriter, r *http.Request) error {
	api, err := decodeAPI(w, r)
	if err != nil {
		return err
	}
	audit.ChangeFrom(r.Context()).Creates(api.Name)
	created, err := a.dir.CreateAPI(r.Context(), r.PathValue("tenant"), api)
	if err := a.afterWrite(r.Context(), err); err != nil {
		return err
	}
	w.Header().Set("Location", apiLocation(r.PathValue("tenant"), created.Name))
	w.Header().Set("ETag", etag(created.Revision))
	writeJSON(w, http.StatusCreated, created)
	return nil
}

func (a *API) replaceAPI(w http.ResponseWriter, r *http.Request) error {
	expected, err := ifMatchRevision(r.Header.Values("If-Match"))
	if err != nil {
		return err
	}
	api, err := decodeAPI(w, r)
	if err != nil {
		return err
	}
	updated, err := a.dir.UpdateAPI(r.Context(), r.PathValue("tenant"), r.PathValue("name"), api, expected)
	if err := a.afterWrite(r.Context(), err); err != nil {
		return err
	}
	w.Header().Set("ETag", etag(updated.Revision))
	writeJSON(w, http.StatusOK, updated)
	return nil
}

func (a *API) deleteAPI(w http.ResponseWriter, r *http.Request) error {
	expected, err := ifMatchRevision(r.Header.Values("If-Match"))
	if err != nil {
		return err
	}
	err = a.dir.DeleteAPI(r.Context(), r.PathValue("tenant"), r.PathValue("name"), expected)
	if err := a.afterWrite(r.Context(), err); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ifMatchRevision reads an If-Match header holding one revision as an
// entity tag ("42"); absent or "*" means any revision (0).
func ifMatchRevision(values []string) (int64, error) {
	if len(values) == 0 {
		return 0, nil
	}
	v := strings.TrimSpace(strings.Join(values, ","))
	if v == "*" {
		return 0, nil
	}
	unq, ok := strings.CutPrefix(v, `"`)
	if ok {
		unq, ok = strings.CutSuffix(unq, `"`)
	}
	rev, err := strconv.ParseInt(unq, 10, 64)
	if !ok || err != nil || rev <= 0 {
		return 0, badRequest("If-Match %q is not a revision: send the ETag of a GET, a positive integer in double quotes such as If-Match: \"42\"", clip(v))
	}
	return rev, nil
}

// decodeAPI reads a directory.API from the request body, refusing every
// unknown field at any depth with its JSON path (field names are exact:
// encoding/json alone would match them case-insensitively).
func decodeAPI(w http.ResponseWriter, r *http.Request) (directory.API, error) {
	var api directory.API
	body, err := readBody(w, r)
	if err != nil {
		return api, err
	}
	if body == nil {
		return api, badRequest("request body is required: a JSON object with the fields %s", fieldList(&api))
	}
	if err := unmarshalAPI(body, &api); err != nil {
		return api, err
	}
	return api, nil
}

// unmarshalAPI decodes body into api, refusing unknown fields by path and
// dropping the read-only ones before they are decoded (so that a GET's
// body, whatever its times, can be sent back).
func unmarshalAPI(body []byte, api *directory.API) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var raw any
	if err := dec.Decode(&raw); err != nil {
		return decodeError(err, api)
	}
	if _, err := dec.Token(); err != io.EOF {
		return decodeError(errTrailingData, api)
	}
	obj, ok := raw.(map[string]any)
	if !ok {
		return badRequest("request body must be a JSON object with the fields %s", fieldList(api))
	}
	if err := directory.CheckAPIFields(raw); err != nil {
		return badRequest("%s", err.Error())
	}
	for _, k := range []string{"tenantId", "revision", "createdAt", "updatedAt"} {
		delete(obj, k)
	}
	clean, err := json.Marshal(obj)
	if err != nil {
		return badRequest("request body could not be decoded as JSON")
	}
	if err := decodeOne(clean, api); err != nil {
		return decodeError(err, api)
	}
	return nil
}
