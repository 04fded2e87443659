package guard

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// Explain's steps are read by people ("portcullis api explain"): each
// detail must be a sentence about this request, not about the code.
func TestExplain_StepDetailsReadAsSentences(t *testing.T) {
	pins, err := NewPinnedCertificates(map[string]Principal{
		"3f1c00000000000000000000000000000000000000000000000000000000e9e9": {Subject: "billing-job"},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	admit := AuthenticatorFunc(func(*http.Request) (*Principal, error) {
		return &Principal{Method: MethodBearer, Subject: "billing-job"}, nil
	})
	allow := func(*http.Request, *Principal) error { return nil }
	tests := []struct {
		name   string
		policy Policy
		want   Step
	}{
		{"no client certificate", Policy{Authenticators: []Authenticator{ClientCertificate(pins)}},
			Step{Phase: PhaseAuthenticate, Method: "clientCertificate", Outcome: OutcomeAbsent,
				Detail: "the request carries no TLS client certificate"}},
		{"no bearer token", Policy{Authenticators: []Authenticator{Bearer(nil)}},
			Step{Phase: PhaseAuthenticate, Method: "bearer", Outcome: OutcomeAbsent,
				Detail: "the request carries no Authorization: Bearer <access token>"}},
		{"an Authorize hook that says what it checks", Policy{Authenticators: []Authenticator{admit}, Authorize: allow,
			AuthorizeHeld: "the client application still exists"},
			Step{Phase: PhaseAuthorize, Rule: "authorize", Outcome: OutcomeHeld, Detail: "the client application still exists"}},
		{"an Authorize hook that does not", Policy{Authenticators: []Authenticator{admit}, Authorize: allow},
			Step{Phase: PhaseAuthorize, Rule: "authorize", Outcome: OutcomeHeld, Detail: "Policy.Authorize admitted the caller"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ex := tt.policy.Explain(httptest.NewRequest(http.MethodGet, "/orders", nil))
			if len(ex.Steps) == 0 {
				t.Fatal("Explain recorded no step")
			}
			if got := ex.Steps[len(ex.Steps)-1]; got != tt.want {
				t.Errorf("last step = %+v\nwant       %+v", got, tt.want)
			}
		})
	}
}
