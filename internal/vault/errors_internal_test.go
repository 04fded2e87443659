package vault

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/store"
)

// A database outage is told to the caller as such, whatever internal step
// met it (a secret write checks the certificates first); the step stays in
// the wrapped error, for the server log.
func TestUnavailable_MessageNamesNoInternalStep(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  *Error
	}{
		{"internal()", internal(fmt.Errorf("query: %w", store.ErrUnavailable), "read certificate %q", "other")},
		{"AsError", AsError(fmt.Errorf("read certificate %q: %w", "other", store.ErrUnavailable))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.err
			if e.Kind != KindUnavailable || e.Code != CodeServiceUnavailable {
				t.Fatalf("kind %v code %s, want unavailable", e.Kind, e.Code)
			}
			if strings.Contains(e.Message, "certificate") || !strings.Contains(e.Message, "database cannot be reached") {
				t.Errorf("message %q: want the outage, not the step", e.Message)
			}
			if !errors.Is(e.Err, store.ErrUnavailable) {
				t.Errorf("wrapped error %v does not keep ErrUnavailable", e.Err)
			}
			if tc.name == "internal()" && !strings.Contains(e.Err.Error(), `read certificate "other"`) {
				t.Errorf("wrapped error %q lost the step for the log", e.Err)
			}
		})
	}
}
