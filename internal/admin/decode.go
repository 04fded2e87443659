package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxBodyBytes is the largest request body the API accepts (1 MiB).
const maxBodyBytes = 1 << 20

// readBody checks the Content-Type and size of the request body and returns
// it; an empty body is returned as nil without a Content-Type check.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > maxBodyBytes {
		return nil, errorf(http.StatusRequestEntityTooLarge, "request body is %d bytes; the limit is %d bytes (1 MiB)", r.ContentLength, maxBodyBytes)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, errorf(http.StatusRequestEntityTooLarge, "request body exceeds the limit of %d bytes (1 MiB)", maxBodyBytes)
		}
		return nil, badRequest("request body could not be read: the connection failed while sending it")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, nil
	}
	if err := checkJSONContentType(r.Header.Get("Content-Type")); err != nil {
		return nil, err
	}
	if bytes.HasPrefix(body, []byte("\xef\xbb\xbf")) {
		return nil, badRequest("request body starts with a byte order mark (EF BB BF); JSON must not (RFC 8259 section 8.1): save the file as UTF-8 without BOM")
	}
	if !utf8.Valid(body) {
		// encoding/json would replace each invalid byte with U+FFFD and
		// store text the client never sent ("café" in Latin-1 as "caf\uFFFD").
		at := 0
		for at < len(body) {
			r, size := utf8.DecodeRune(body[at:])
			if r == utf8.RuneError && size == 1 {
				break
			}
			at += size
		}
		return nil, badRequest("request body is not valid UTF-8 (byte %d is 0x%02X); send the JSON encoded as UTF-8 (a Latin-1 or Windows-1252 text must be converted first)", at, body[at])
	}
	if at, bad := loneSurrogate(body); bad {
		return nil, badRequest("request body has a \\u escape at byte %d that is half of a UTF-16 surrogate pair; escape characters outside the Basic Multilingual Plane as a complete pair (\\ud83d\\ude00) or send them as UTF-8", at)
	}
	if path, dup := duplicateMember(body); dup {
		return nil, badRequest("field %q appears twice in the request body; give each field once (JSON readers disagree on which of the two counts, so neither is taken)", clip(path))
	}
	return body, nil
}

// loneSurrogate reports the offset of the first \u escape in a JSON
// string of body that is a UTF-16 surrogate without its other half.
// encoding/json turns such an escape into U+FFFD, text the client never
// sent (RFC 7493 section 2.1 forbids them).
func loneSurrogate(body []byte) (int, bool) {
	hex4 := func(i int) (rune, bool) {
		if i+6 > len(body) || body[i] != '\\' || body[i+1] != 'u' {
			return 0, false
		}
		v, err := strconv.ParseUint(string(body[i+2:i+6]), 16, 16)
		return rune(v), err == nil
	}
	inString := false
	for i := 0; i < len(body); i++ {
		switch c := body[i]; {
		case c == '"':
			inString = !inString
		case inString && c == '\\' && i+1 < len(body) && body[i+1] != 'u':
			i++ // a one-character escape, \" included
		case inString && c == '\\':
			r, ok := hex4(i)
			if !ok {
				return 0, false // a syntax error, which decoding names
			}
			switch {
			case r >= 0xD800 && r < 0xDC00:
				low, ok := hex4(i + 6)
				if !ok || low < 0xDC00 || low > 0xDFFF {
					return i, true
				}
				i += 11
			case r >= 0xDC00 && r <= 0xDFFF:
				return i, true
			default:
				i += 5
			}
		}
	}
	return 0, false
}

// duplicateMember reports the JSON path (match.pathPrefix,
// policy.methods[0].type) of the first member name that occurs twice in
// one object of body. encoding/json silently keeps the last of them and
// other readers the first, so a body with both is ambiguous (RFC 8259
// section 4: names SHOULD be unique; RFC 7493 section 2.3: MUST). Bodies
// that are not valid JSON report nothing: their decoding names the error.
func duplicateMember(body []byte) (string, bool) {
	// json.Valid bounds the nesting depth, so the walk below stays small.
	if !json.Valid(body) {
		return "", false
	}
	type level struct {
		object bool
		key    string // the member being read (objects)
		index  int    // the element being read (arrays)
		path   string
		seen   map[string]bool
	}
	var stack []*level
	// at is the path of the value about to be read in the innermost level.
	at := func() string {
		if len(stack) == 0 {
			return ""
		}
		l := stack[len(stack)-1]
		if l.object {
			if l.path == "" {
				return l.key
			}
			return l.path + "." + l.key
		}
		return l.path + "[" + strconv.Itoa(l.index) + "]"
	}
	// next moves the innermost level past the value just read.
	next := func() {
		if len(stack) > 0 {
			if l := stack[len(stack)-1]; !l.object {
				l.index++
			} else {
				l.key = ""
			}
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		top := (*level)(nil)
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		// In an object, a string where no key is pending is the next key.
		if s, ok := tok.(string); ok && top != nil && top.object && top.key == "" {
			if top.seen[s] {
				top.key = s
				return at(), true
			}
			top.seen[s] = true
			top.key = s
			continue
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &level{object: true, path: at(), seen: map[string]bool{}})
		case json.Delim('['):
			stack = append(stack, &level{path: at()})
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			next()
		default:
			next()
		}
		if len(stack) == 0 && !dec.More() {
			return "", false
		}
	}
}

func checkJSONContentType(ct string) error {
	if ct == "" {
		return errorf(http.StatusUnsupportedMediaType, "Content-Type is missing; send the body as JSON with Content-Type: application/json")
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return errorf(http.StatusUnsupportedMediaType, "Content-Type %q is not supported; send the body as JSON with Content-Type: application/json", ct)
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return errorf(http.StatusUnsupportedMediaType, "charset %q is not supported; JSON bodies must be UTF-8", cs)
	}
	return nil
}

// decodeJSON reads the request body into dst, a pointer to a struct, and
// refuses unknown fields, trailing data and type mismatches with a message
// that names the field. An empty body is refused unless optional.
func decodeJSON(w http.ResponseWriter, r *http.Request, dst any, optional bool) error {
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	if body == nil {
		if optional {
			return nil
		}
		return badRequest("request body is required: a JSON object with the fields %s", fieldList(dst))
	}
	return unmarshalStrict(body, dst)
}

// unmarshalStrict decodes one JSON object from body into dst, a pointer to a
// struct whose json tags name the allowed fields.
func unmarshalStrict(body []byte, dst any) error {
	// encoding/json matches field names case-insensitively; the contract's
	// names are exact, so the keys are checked on a first pass.
	var fields map[string]json.RawMessage
	if err := decodeOne(body, &fields); err != nil {
		return decodeError(err, dst)
	}
	if fields == nil {
		return badRequest("request body must be a JSON object with the fields %s, not null", fieldList(dst))
	}
	allowed := fieldNames(dst)
	var unknown []string
	for k := range fields {
		if !slices.Contains(allowed, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return badRequest("unknown field %q; the allowed fields are %s (names are case-sensitive)", clip(unknown[0]), fieldList(dst))
	}
	if err := decodeOne(body, dst); err != nil {
		return decodeError(err, dst)
	}
	return nil
}

// decodeOne decodes exactly one JSON value from body into dst.
func decodeOne(body []byte, dst any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errTrailingData
	}
	return nil
}

var errTrailingData = errors.New("trailing data")

// clip shortens a client-supplied string for an error message.
func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func decodeError(err error, dst any) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, errTrailingData):
		return badRequest("request body must hold exactly one JSON object; remove what follows it")
	case errors.As(err, &syntax):
		return badRequest("request body is not valid JSON (at byte %d: %s)", syntax.Offset, strings.TrimPrefix(syntax.Error(), "json: "))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("request body is not valid JSON: it ends before the object is complete")
	case errors.As(err, &typ):
		if typ.Field == "" {
			return badRequest("request body must be a JSON object with the fields %s, not a JSON %s", fieldList(dst), typ.Value)
		}
		if k := typ.Type.Kind(); (k == reflect.Float64 || k == reflect.Float32 || k == reflect.Interface) && strings.HasPrefix(typ.Value, "number") {
			return badRequest("field %q holds the %s, which is out of range; give a number of at most about 1.8e308", typ.Field, typ.Value)
		}
		if ft := fieldType(dst, typ.Field); ft != nil && ft.Kind() == reflect.Map && ft.Elem() == typ.Type {
			// encoding/json names the map, not the member that is wrong.
			return badRequest("field %q must be an object whose values are each %s; one is a JSON %s", typ.Field, jsonKind(typ.Type), typ.Value)
		}
		return badRequest("field %q must be %s, not a JSON %s", typ.Field, jsonKind(typ.Type), typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.TrimPrefix(err.Error(), "json: unknown field ")
		return badRequest("unknown field %s; the allowed fields are %s (names are case-sensitive)", name, fieldList(dst))
	}
	return badRequest("request body could not be decoded as JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
}

// fieldType returns the Go type of the field at path (JSON names joined
// by dots, as json.UnmarshalTypeError gives them) in the struct dst points
// to, looking through pointers and slices; nil when it has none.
func fieldType(dst any, path string) reflect.Type {
	t := reflect.TypeOf(dst)
	for _, name := range strings.Split(path, ".") {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return nil
		}
		var next reflect.Type
		for _, f := range reflect.VisibleFields(t) {
			if tag, _, _ := strings.Cut(f.Tag.Get("json"), ","); tag == name && f.IsExported() {
				next = f.Type
				break
			}
		}
		if next == nil {
			return nil
		}
		t = next
	}
	return t
}

// jsonKind names the JSON type that decodes into t.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
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
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return "a different type"
}

// fieldNames returns the JSON field names of the struct dst points to.
func fieldNames(dst any) []string {
	t := reflect.TypeOf(dst)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	var names []string
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			names = append(names, name)
		}
	}
	return names
}

// fieldList names the JSON fields of the struct dst points to, quoted.
func fieldList(dst any) string {
	names := fieldNames(dst)
	for i, n := range names {
		names[i] = strconv.Quote(n)
	}
	return strings.Join(names, ", ")
}
