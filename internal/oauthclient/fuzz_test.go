package oauthclient

import (
	"strings"
	"testing"
	"unicode"
)

func FuzzParseError(f *testing.F) {
	for _, seed := range []string{
		`{"correlation_id":"b1b02aff","error":"invalid_client","error_codes":[7000215],"error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: 7f46\r\nCorrelation ID: b1b02aff","error_uri":"https://h/error?code=7000215","timestamp":"2026-11-23 23:15:47Z","trace_id":"7f46"}`,
		`{"error":"invalid_scope"}`,
		`{"error":123}`,
		`{"error":"x","error_codes":["1",2.5,-3,99999999999]}`,
		`{"error":"x\u001b[31m","error_description":"\u202eevil"}`,
		`[]`, `null`, ``, `{"error":""}`,
	} {
		f.Add(401, []byte(seed))
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		e := parseError(status, body)
		if e == nil {
			return
		}
		if e.Code == "" {
			t.Fatal("parsed an error without a code")
		}
		msg := e.Error()
		if strings.ContainsAny(msg, "\r\n") {
			t.Fatalf("Error() has a line break: %q", msg)
		}
		for _, r := range msg {
			if unicode.IsControl(r) {
				t.Fatalf("Error() has control character %U: %q", r, msg)
			}
		}
		if len(e.ErrorCodes) > 16 {
			t.Fatalf("kept %d error codes", len(e.ErrorCodes))
		}
	})
}
