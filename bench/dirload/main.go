// Command dirload registers applications through the admin API of a running
// Portcullis over HTTPS, one request at a time, and reports the rate of
// admin writes for each block of applications, so that the cost of a write
// can be followed as the directory grows. It only targets loopback
// addresses and reads the admin credential that `serve --dev` writes.
//
//	go run ./bench/dirload -admin portcullis-data/admin.json -n 10000 -every 1000
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/portcullis/portcullis/bench/internal/loadgen"
)

// credential is the part of admin.json that dirload uses.
type credential struct {
	Addr         string `json:"addr"`
	CA           string `json:"ca"`
	TenantID     string `json:"tenantId"`
	ClientID     string `json:"clientId"`
	ClientSecret string `json:"clientSecret"`
	Scope        string `json:"scope"`
}

func main() {
	var (
		adminFile = flag.String("admin", "", "admin credential file written by `portcullis serve` (admin.json)")
		n         = flag.Int("n", 10_000, "applications to register")
		every     = flag.Int("every", 1000, "report the write rate for each block of this many applications")
		prefix    = flag.String("prefix", "dirload", "display name prefix of the registered applications")
	)
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "dirload: unexpected argument %q (all options are flags; see -h)\n", flag.Arg(0))
		os.Exit(2)
	}
	if err := run(os.Stdout, *adminFile, *n, *every, *prefix); err != nil {
		fmt.Fprintln(os.Stderr, "dirload:", err)
		os.Exit(1)
	}
}

func run(out io.Writer, adminFile string, n, every int, prefix string) error {
	if adminFile == "" || n <= 0 || every <= 0 {
		return fmt.Errorf("-admin is required, and -n and -every must be positive")
	}
	b, err := os.ReadFile(adminFile)
	if err != nil {
		return fmt.Errorf("-admin: %w", err)
	}
	var cred credential
	if err := json.Unmarshal(b, &cred); err != nil {
		return fmt.Errorf("-admin %s: %w", adminFile, err)
	}
	if _, err := loadgen.CheckLoopbackURL(cred.Addr); err != nil {
		return fmt.Errorf("admin credential address: %w", err)
	}
	hc, err := loadgen.NewHTTPClient(cred.CA, 1)
	if err != nil {
		return err
	}
	token, expires, err := adminToken(hc, cred)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%-16s %12s\n", "applications", "writes/s")
	start := time.Now()
	for i := 0; i < n; {
		blockStart, first := time.Now(), i
		for ; i-first < every && i < n; i++ {
			if time.Until(expires) < time.Minute {
				if token, expires, err = adminToken(hc, cred); err != nil {
					return err
				}
			}
			body, _ := json.Marshal(map[string]any{"displayName": fmt.Sprintf("%s-%d-%d", prefix, start.UnixNano(), i)})
			req, _ := http.NewRequest(http.MethodPost, cred.Addr+"/admin/v1/tenants/"+cred.TenantID+"/applications", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Content-Type", "application/json")
			status, err := loadgen.Send(hc, req)
			if err != nil {
				return fmt.Errorf("register application %d: %w", i, err)
			}
			if status != http.StatusCreated {
				return fmt.Errorf("register application %d: HTTP %d", i, status)
			}
		}
		d := time.Since(blockStart)
		fmt.Fprintf(out, "%-16s %12.1f\n", fmt.Sprintf("≤ %d", i), float64(i-first)/d.Seconds())
	}
	fmt.Fprintf(out, "%d applications in %v (%.1f writes/s overall)\n", n, time.Since(start).Round(time.Millisecond), float64(n)/time.Since(start).Seconds())
	return nil
}

// adminToken obtains an access token for the management API with the
// admin credential (client_secret_post).
func adminToken(hc *http.Client, cred credential) (string, time.Time, error) {
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {cred.ClientID}, "client_secret": {cred.ClientSecret}, "scope": {cred.Scope}}
	res, err := hc.PostForm(cred.Addr+"/"+cred.TenantID+"/oauth2/v2.0/token", form)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("admin token: %w", err)
	}
	defer res.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil || res.StatusCode != http.StatusOK || body.AccessToken == "" {
		return "", time.Time{}, fmt.Errorf("admin token: HTTP %d (%v)", res.StatusCode, err)
	}
	return body.AccessToken, time.Now().Add(time.Duration(body.ExpiresIn) * time.Second), nil
}
