package directory

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// CheckAPIFields refuses the first key of v, an API decoded from JSON into
// an any, that names no field of API at its place, by its path
// ("policy.methods[0].header"). encoding/json matches names without regard
// to case, so that "pathprefix" would silently fill pathPrefix; the admin
// API and the CLI's --from-file both check with this before decoding.
func CheckAPIFields(v any) error { return checkFields(v, reflect.TypeFor[API](), "") }

// CheckConnectorFields is CheckAPIFields for a Connector.
func CheckConnectorFields(v any) error { return checkFields(v, reflect.TypeFor[Connector](), "") }

func checkFields(v any, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			return nil // a type mismatch, which the decoder names
		}
		fields := map[string]reflect.Type{}
		var names []string
		for i := 0; i < t.NumField(); i++ {
			if name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ","); name != "" && name != "-" {
				fields[name] = t.Field(i).Type
				names = append(names, strconv.Quote(name))
			}
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			at := k
			if path != "" {
				at = path + "." + k
			}
			ft, ok := fields[k]
			if !ok {
				return fmt.Errorf("unknown field %q; the allowed fields there are %s (names are case-sensitive)", clip(at), strings.Join(names, ", "))
			}
			if err := checkFields(obj[k], ft, at); err != nil {
				return err
			}
		}
	case reflect.Slice:
		arr, _ := v.([]any)
		for i, e := range arr {
			if err := checkFields(e, t.Elem(), path+"["+strconv.Itoa(i)+"]"); err != nil {
				return err
			}
		}
	}
	return nil
}
