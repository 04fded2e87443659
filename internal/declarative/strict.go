package declarative

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"

	"sigs.k8s.io/yaml"
)

// ToJSON converts one YAML or JSON document to JSON strictly: a key given
// twice in one mapping is an error, since a lenient reader keeps one of the
// two without a word and which one differs between readers. The error says
// where, in words, without the YAML library's prefixes.
func ToJSON(data []byte) ([]byte, error) {
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, yamlError(err)
	}
	return js, nil
}

// duplicateKey matches the YAML library's report of a repeated key.
var duplicateKey = regexp.MustCompile(`line (\d+): key (".*") already set in map`)

func yamlError(err error) error {
	msg := err.Error()
	if m := duplicateKey.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("line %s: the key %s is given twice in the same mapping; give each key once (only one of the two would be read)", m[1], clip(m[2]))
	}
	msg = strings.TrimPrefix(msg, "error converting YAML to JSON: ")
	msg = strings.TrimPrefix(msg, "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n")
	msg = strings.Join(strings.Fields(msg), " ")
	return fmt.Errorf("not valid YAML or JSON: %s", msg)
}

// ShapeError describes an error of decoding a document's JSON into Go
// values by the document's field names and JSON types ("field
// \"tenants.name\" must be a string, not a JSON array"), never by Go types.
func ShapeError(err error) string {
	var typ *json.UnmarshalTypeError
	var syntax *json.SyntaxError
	switch {
	case errors.As(err, &typ) && typ.Field == "":
		return fmt.Sprintf("the document must be %s, not a JSON %s", jsonKind(typ.Type), typ.Value)
	case errors.As(err, &typ):
		msg := fmt.Sprintf("field %q must be %s, not a JSON %s", typ.Field, jsonKind(typ.Type), typ.Value)
		if typ.Type.Kind() == reflect.String && (typ.Value == "bool" || strings.HasPrefix(typ.Value, "number")) {
			// YAML reads an unquoted yes, no, on, off, true, false or
			// digits as a boolean or a number, not as the text written.
			msg += "; in YAML, put the value in quotes (e.g. name: 'yes' or name: '0123')"
		}
		return msg
	case errors.As(err, &syntax):
		return fmt.Sprintf("not valid JSON (at byte %d): %s", syntax.Offset, strings.TrimPrefix(syntax.Error(), "json: "))
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// jsonKind names the JSON type that decodes into t.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == reflect.TypeFor[json.RawMessage]() {
		return "a JSON value of its own kind"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Struct, reflect.Map:
		return "a mapping (an object)"
	}
	return "a value of another type"
}
