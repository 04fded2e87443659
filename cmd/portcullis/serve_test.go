package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServe_GatewayFlagsAreValidatedBeforeStart checks that a bad trusted
// proxy or gateway timeout stops serve before anything is created, with an
// error naming the flag and what to give instead.
func TestServe_GatewayFlagsAreValidatedBeforeStart(t *testing.T) {
	dir := isolate(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"trusted proxy not an address", []string{"--gateway-trusted-proxy", "lb.internal"},
			`--gateway-trusted-proxy "lb.internal": want an IP address or a CIDR range`},
		{"trusted proxy with host bits", []string{"--gateway-trusted-proxy", "10.0.0.0/8", "--gateway-trusted-proxy", "192.168.1.1/16"},
			"did you mean 192.168.0.0/16?"},
		{"trusted proxy everything", []string{"--gateway-trusted-proxy", "0.0.0.0/0"}, "trusting every address"},
		{"zero body timeout", []string{"--gateway-read-body-timeout", "0"},
			`invalid argument "0" for "--gateway-read-body-timeout" flag: want a positive duration`},
		{"negative send timeout", []string{"--gateway-send-timeout=-5s"},
			`invalid argument "-5s" for "--gateway-send-timeout" flag: want a positive duration`},
		{"send timeout without unit", []string{"--gateway-send-timeout", "60"},
			`invalid argument "60" for "--gateway-send-timeout" flag: want a duration such as 60s`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := filepath.Join(dir, "data")
			args := append([]string{"serve", "--dev", "--data", data, "--listen", "127.0.0.1:0", "--metrics-listen", "off"}, tc.args...)
			code, _, errOut := exec(t, "", args...)
			if code != 1 || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, stderr %q; want it to say %q", code, errOut, tc.want)
			}
			if _, err := os.Stat(data); !os.IsNotExist(err) {
				t.Errorf("serve created %s before refusing its flags (%v)", data, err)
			}
		})
	}
}
