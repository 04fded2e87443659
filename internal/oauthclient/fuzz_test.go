package oauthclient

import (
	"strings"
	"testing"
	"time"
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

func FuzzParseToken(f *testing.F) {
	for _, seed := range []string{
		`{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"eyJ0eXAi.eyJhdWQi.c2ln"}`,
		`{"access_token":"a","expires_in":"3599"}`,
		`{"access_token":"a","expires_on":"1900000000"}`,
		`{"access_token":"a","expires_in":1099511627776}`,
		`{"access_token":"a","expires_in":-5,"expires_on":9223372036854775807}`,
		`{"access_token":"a","expires_in":1e30}`,
		`{"access_token":""}`, `[]`, `null`, ``,
	} {
		f.Add([]byte(seed))
	}
	sent := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		tok, err := parseToken(body, sent)
		if err != nil {
			return
		}
		if tok.AccessToken == "" {
			t.Fatal("accepted a response without an access token")
		}
		if tok.ExpiresIn > 0 && tok.ExpiresAt.Before(sent) {
			t.Fatalf("expires_in %d gave ExpiresAt %s, before the request was sent", tok.ExpiresIn, tok.ExpiresAt)
		}
	})
}
