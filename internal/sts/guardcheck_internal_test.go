package sts

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/guard"
)

func TestGuardRefusal_KeepsStatusAndSaysTheWaitRoundedUp(t *testing.T) {
	for _, tc := range []struct {
		name   string
		in     *Error
		status int
		code   string
		desc   string
	}{
		{"throttled, under half a second", &Error{Status: http.StatusTooManyRequests, Message: "too many attempts", RetryAfter: 300 * time.Millisecond},
			http.StatusTooManyRequests, guard.CodeTemporarilyUnavailable, "too many attempts (retry after 1 s)"},
		{"throttled, 2.2 seconds", &Error{Status: http.StatusTooManyRequests, Message: "too many attempts", RetryAfter: 2200 * time.Millisecond},
			http.StatusTooManyRequests, guard.CodeTemporarilyUnavailable, "(retry after 3 s)"},
		{"server failure", &Error{Status: http.StatusInternalServerError, Message: "store down"},
			http.StatusServiceUnavailable, guard.CodeTemporarilyUnavailable, "store down"},
		{"bad secret", &Error{Status: http.StatusUnauthorized, Message: "Invalid client secret"},
			http.StatusUnauthorized, guard.CodeInvalidToken, "Invalid client secret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := guardRefusal(tc.in)
			if g.Status != tc.status || g.Code != tc.code || !strings.HasSuffix(g.Description, tc.desc) {
				t.Fatalf("got %d %s %q; want %d %s ending %q", g.Status, g.Code, g.Description, tc.status, tc.code, tc.desc)
			}
		})
	}
}
