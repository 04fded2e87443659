package server

import (
	"strings"
	"testing"
	"time"
)

func TestParseGatewayListen(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    GatewayListener
		wantErr string
	}{
		{in: "https://127.0.0.1:8444", want: GatewayListener{Addr: "127.0.0.1:8444", TLS: true}},
		{in: "http://0.0.0.0:8080", want: GatewayListener{Addr: "0.0.0.0:8080"}},
		{in: "127.0.0.1:0", want: GatewayListener{Addr: "127.0.0.1:0", TLS: true}},
		{in: "https://[::1]:8444", want: GatewayListener{Addr: "[::1]:8444", TLS: true}},
		{in: "ftp://127.0.0.1:21", wantErr: "unknown scheme"},
		{in: "https://127.0.0.1", wantErr: "want https://host:port"},
		{in: "https://127.0.0.1:8444/path", wantErr: "want https://host:port"},
		{in: "http://127.0.0.1:99999", wantErr: "port \"99999\""},
		{in: "http://127.0.0.1:http", wantErr: "is not a number"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseGatewayListen(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to say %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestValidateGateway_DevDefaultsAndConflicts(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     Config
		want    []GatewayListener
		wantErr string
	}{
		{name: "dev default is https on the next port", cfg: Config{Dev: true, Listen: "127.0.0.1:8443"}, want: []GatewayListener{{Addr: "127.0.0.1:8444", TLS: true}}},
		{name: "dev with a free --listen port takes a free port", cfg: Config{Dev: true, Listen: "127.0.0.1:0"}, want: []GatewayListener{{Addr: "127.0.0.1:0", TLS: true}}},
		{name: "dev off", cfg: Config{Dev: true, Listen: "127.0.0.1:8443", GatewayListen: []string{"off"}}},
		{name: "production has none by default", cfg: Config{Listen: "127.0.0.1:8443"}},
		{name: "off with addresses", cfg: Config{GatewayListen: []string{"off", "http://127.0.0.1:8080"}}, wantErr: "cannot be combined"},
		{name: "same address twice", cfg: Config{GatewayListen: []string{"http://127.0.0.1:8080", "https://127.0.0.1:8080"}}, wantErr: "given twice"},
		{name: "cert without key", cfg: Config{GatewayTLSCertFile: "c.pem"}, wantErr: "go together"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.validateGateway()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to say %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(tc.cfg.gateway) != len(tc.want) {
				t.Fatalf("listeners = %+v, want %+v", tc.cfg.gateway, tc.want)
			}
			for i := range tc.want {
				if tc.cfg.gateway[i] != tc.want[i] {
					t.Fatalf("listeners = %+v, want %+v", tc.cfg.gateway, tc.want)
				}
			}
		})
	}
}

func TestValidateListenerClash_TwoListenersOnOnePortAreRefusedBeforeBinding(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     Config
		wantErr string // "" = accepted
	}{
		{name: "dev gateway on the metrics port", cfg: Config{Dev: true, Listen: "127.0.0.1:28917", MetricsListen: "127.0.0.1:28918"},
			wantErr: "the gateway's listener 127.0.0.1:28918 (with --dev, the port after --listen unless --gateway-listen says otherwise) and --metrics-listen 127.0.0.1:28918 use the same port"},
		{name: "metrics on the --listen port", cfg: Config{Listen: "127.0.0.1:8443", MetricsListen: "127.0.0.1:8443"}, wantErr: "--listen and --metrics-listen 127.0.0.1:8443 use the same port"},
		{name: "gateway on the --listen port", cfg: Config{Listen: "127.0.0.1:8443", GatewayListen: []string{"https://127.0.0.1:8443"}}, wantErr: "--listen and --gateway-listen 127.0.0.1:8443 use the same port"},
		{name: "wildcard covers loopback", cfg: Config{Listen: "0.0.0.0:8443", MetricsListen: "127.0.0.1:8443"}, wantErr: "same port"},
		{name: "IPv4 wildcard and IPv6 loopback", cfg: Config{Listen: "0.0.0.0:8443", MetricsListen: "[::1]:8443"}},
		{name: "same port on different loopback addresses", cfg: Config{Listen: "127.0.0.1:8443", MetricsListen: "127.0.0.2:8443"}},
		{name: "free ports", cfg: Config{Dev: true, Listen: "127.0.0.1:0", MetricsListen: "127.0.0.1:0"}},
		{name: "distinct ports", cfg: Config{Dev: true, Listen: "127.0.0.1:8443", MetricsListen: "127.0.0.1:9464"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.cfg.validateGateway(); err != nil {
				t.Fatal(err)
			}
			err := tc.cfg.validateListenerClash()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("err = %v, want none", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to say %q", err, tc.wantErr)
			}
		})
	}
}

func TestValidateGateway_TrustedProxiesAndTimeouts(t *testing.T) {
	for _, tc := range []struct {
		name               string
		cfg                Config
		wantTrusted        []string
		wantBody, wantSend time.Duration
		wantErr            string
	}{
		{name: "defaults", cfg: Config{}, wantBody: 60 * time.Second, wantSend: 60 * time.Second},
		{name: "ranges and addresses", cfg: Config{GatewayTrustedProxies: []string{"10.0.0.0/8", "192.0.2.10, 2001:db8::/32", "::1", "::ffff:172.16.0.0/108"}},
			wantTrusted: []string{"10.0.0.0/8", "192.0.2.10/32", "2001:db8::/32", "::1/128", "172.16.0.0/12"}, wantBody: 60 * time.Second, wantSend: 60 * time.Second},
		{name: "timeouts", cfg: Config{GatewayReadBodyTimeout: 5 * time.Second, GatewaySendTimeout: 2 * time.Minute}, wantBody: 5 * time.Second, wantSend: 2 * time.Minute},
		{name: "not an address", cfg: Config{GatewayTrustedProxies: []string{"lb.example.com"}}, wantErr: `--gateway-trusted-proxy "lb.example.com": want an IP address or a CIDR range`},
		{name: "empty list entry", cfg: Config{GatewayTrustedProxies: []string{"10.0.0.0/8,"}}, wantErr: `--gateway-trusted-proxy "": want an IP address`},
		{name: "bad prefix length", cfg: Config{GatewayTrustedProxies: []string{"10.0.0.0/33"}}, wantErr: "want an IP address or a CIDR range"},
		{name: "host bits set", cfg: Config{GatewayTrustedProxies: []string{"10.1.2.3/8"}}, wantErr: "did you mean 10.0.0.0/8?"},
		{name: "zone", cfg: Config{GatewayTrustedProxies: []string{"fe80::1%eth0"}}, wantErr: "want an IP address"},
		{name: "every IPv4 address", cfg: Config{GatewayTrustedProxies: []string{"0.0.0.0/0"}}, wantErr: "trusting every address"},
		{name: "every IPv6 address", cfg: Config{GatewayTrustedProxies: []string{"::/0"}}, wantErr: "trusting every address"},
		{name: "every IPv4-mapped address", cfg: Config{GatewayTrustedProxies: []string{"::ffff:0.0.0.0/96"}}, wantErr: "trusting every address"},
		{name: "negative body timeout", cfg: Config{GatewayReadBodyTimeout: -time.Second}, wantErr: "--gateway-read-body-timeout -1s: want a positive duration"},
		{name: "negative send timeout", cfg: Config{GatewaySendTimeout: -time.Second}, wantErr: "--gateway-send-timeout -1s: want a positive duration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.validateGateway()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to say %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range tc.cfg.gatewayTrusted {
				got = append(got, p.String())
			}
			if strings.Join(got, " ") != strings.Join(tc.wantTrusted, " ") {
				t.Errorf("trusted = %v, want %v", got, tc.wantTrusted)
			}
			if tc.cfg.GatewayReadBodyTimeout != tc.wantBody || tc.cfg.GatewaySendTimeout != tc.wantSend {
				t.Errorf("timeouts = %s, %s; want %s, %s", tc.cfg.GatewayReadBodyTimeout, tc.cfg.GatewaySendTimeout, tc.wantBody, tc.wantSend)
			}
		})
	}
}
