package pgtest

import "testing"

func TestWithSearchPath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"postgres://u@h:5432/db?sslmode=disable", "postgres://u@h:5432/db?search_path=s&sslmode=disable"},
		{"postgresql://h/db", "postgresql://h/db?search_path=s"},
		{"host=h dbname=db", "host=h dbname=db search_path=s"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if got := withSearchPath(tc.in, "s"); got != tc.want {
				t.Fatalf("withSearchPath(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
