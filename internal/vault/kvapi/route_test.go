package kvapi

import "testing"

func TestMetricsRoute_IsFromClosedSets(t *testing.T) {
	for _, tc := range []struct {
		method string
		segs   []string
		want   string
	}{
		{"GET", []string{"secrets", "db"}, "keyvault GET secrets"},
		{"POST", []string{"keys", "k", "", "sign"}, "keyvault POST keys"},
		{"PURGE", []string{"deletedsecrets", "x"}, "keyvault OTHER deletedsecrets"},
		{"GET", []string{"anything-a-client-sends"}, "keyvault GET other"},
		{"GET", nil, "keyvault GET other"},
	} {
		if got := metricsRoute(tc.method, tc.segs); got != tc.want {
			t.Errorf("metricsRoute(%q, %q) = %q; want %q", tc.method, tc.segs, got, tc.want)
		}
	}
}
