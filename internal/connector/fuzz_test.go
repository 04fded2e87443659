package connector

import (
	"strings"
	"testing"
	"unicode"

	"github.com/portcullis/portcullis/internal/directory"
)

func FuzzConnectorResponse(f *testing.F) {
	for _, s := range []struct {
		status int
		ct     string
		body   string
	}{
		{200, "application/json", `{"version":"1.0.0","action":"Continue","loyalty_number":"LN-42","tier":"gold"}`},
		{200, "application/json; charset=utf-8", `{"version":"1.0.0","action":"ShowBlockPage","userMessage":"Blocked."}`},
		{400, "application/json", `{"version":"1.0.0","status":400,"action":"ValidationError","userMessage":"Invalid."}`},
		{400, "application/json", `{"status":"400","action":"validationerror","userMessage":"x"}`},
		{200, "application/problem+json", `{"tier":1e400}`},
		{200, "application/json", `{"tier":null,"action":null}`},
		{200, "application/json", `{"a":1} {"b":2}`},
		{200, "text/html", "<html>\x1b[31m\u202e</html>"},
		{500, "", ""},
		{200, "application/json", `null`},
		{200, "application/json", `{"userMessage":"` + strings.Repeat("é", 2000) + `","action":"ShowBlockPage"}`},
		{302, "application/json", `{}`},
	} {
		f.Add(s.status, s.ct, []byte(s.body))
	}
	outputs := []directory.ConnectorClaim{{ClaimType: "loyaltyNumber", PartnerClaimType: "loyalty_number"}, {ClaimType: "tier"}}
	f.Fuzz(func(t *testing.T, status int, ct string, body []byte) {
		o := parseResponse(status, ct, body, outputs)
		switch o.decision {
		case Continue:
			if status != 200 {
				t.Fatalf("continue on HTTP %d", status)
			}
			for k := range o.claims {
				if k != "loyaltyNumber" && k != "tier" {
					t.Fatalf("undeclared claim %q taken", k)
				}
			}
		case Block, ValidationError:
			if o.message == "" || len(o.message) > maxUserMessage {
				t.Fatalf("%s with message of %d bytes", o.decision, len(o.message))
			}
			if o.decision == ValidationError && status != 400 || o.decision == Block && status != 200 {
				t.Fatalf("%s on HTTP %d", o.decision, status)
			}
		case Failed:
			if o.err == "" {
				t.Fatal("an error without text")
			}
			// The quoted excerpt is bounded whatever the body's size.
			if len(o.err) > 1200 {
				t.Fatalf("error of %d bytes", len(o.err))
			}
		default:
			t.Fatalf("decision %q", o.decision)
		}
		for _, s := range append([]string{o.message}, o.ignored...) {
			for _, r := range s {
				if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
					t.Fatalf("control character %U in %q", r, s)
				}
			}
		}
		for _, r := range o.err {
			if r != '\\' && (unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r)) {
				t.Fatalf("control character %U in error %q", r, o.err)
			}
		}
	})
}
