// Command propagation measures how long a change made on one node of a
// cluster takes to be served by the others: three `serve` nodes (the real
// server, in one process, each with its own connection pool, listeners and
// reload loop) on one PostgreSQL database, changed through the admin API of
// one node and observed from outside through the HTTP surfaces of the two
// others, polled every -poll.
//
// Each round makes four changes on node round%3, and for each measures the
// time from the admin API's answer to the moment both other nodes serve
// it:
//
//   - client: an application and its client secret are created; the other
//     nodes know it (its token, issued by the writing node, is answered
//     403 "no role" by their vault instead of 401 "no such client");
//   - vault role: the application becomes Key Vault Secrets User; the
//     other nodes let its token read a secret;
//   - route: an API is created; the other nodes' gateways route its path
//     (401 for a request without a token instead of 404);
//   - revocation: the application is deleted; the other nodes' vault
//     refuses its token (401).
//
// No probe fails a client authentication at the token endpoint: those
// would spend the cluster-wide failure budget of 127.0.0.1 and measure
// its throttling instead.
//
//	go run ./bench/propagation -postgres 'postgres://postgres@127.0.0.1:5432/test?sslmode=disable'
//
// -load N adds N callers obtaining tokens from the nodes in turn, each as
// fast as it is answered, for the whole run: propagation under load.
//
// The revision poll is left at its default (1 s): it is the safety net;
// changes arrive by PostgreSQL notification. -reload-interval changes it
// (a long one shows the notification path alone). The run works in a
// schema of its own, created in that database and dropped at the end.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/portcullis/portcullis/bench/internal/pgschema"
	"github.com/portcullis/portcullis/internal/server"
)

// vaultScope is the scope of a vault token (directory.VaultIdentifierURI).
const vaultScope = server.VaultIdentifierURI + "/.default"

type config struct {
	postgresURL    string
	changes        int
	poll           time.Duration
	timeout        time.Duration
	reloadInterval time.Duration
	load           int
}

func main() {
	var c config
	flag.StringVar(&c.postgresURL, "postgres", "", "PostgreSQL URL (required): the nodes share a temporary schema in it")
	flag.IntVar(&c.changes, "n", 50, "changes of each kind")
	flag.DurationVar(&c.poll, "poll", 2*time.Millisecond, "how often each observing node is asked")
	flag.DurationVar(&c.timeout, "timeout", 30*time.Second, "give up on a change after this long")
	flag.DurationVar(&c.reloadInterval, "reload-interval", 0, "the nodes' revision poll (default: serve's default, 1s)")
	flag.IntVar(&c.load, "load", 0, "callers requesting tokens from every node meanwhile, each as fast as it is answered")
	flag.Parse()
	if c.postgresURL == "" || c.changes < 1 {
		fmt.Fprintln(os.Stderr, "propagation: give -postgres URL (and -n of at least 1); e.g. go run ./bench/propagation -postgres 'postgres://postgres@127.0.0.1:5432/test?sslmode=disable'")
		os.Exit(2)
	}
	res, err := run(context.Background(), c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "propagation:", err)
		os.Exit(1)
	}
	fmt.Printf("%d changes of each kind, made on one of 3 nodes, until both others serve them (poll %s, %d load callers):\n", c.changes, c.poll, c.load)
	fmt.Printf("%-12s %10s %10s %10s\n", "change", "median", "p90", "max")
	for _, r := range res {
		fmt.Printf("%-12s %10s %10s %10s\n", r.kind, r.quantile(0.5), r.quantile(0.9), r.quantile(1))
	}
}

// result is the delays measured for one kind of change.
type result struct {
	kind   string
	delays []time.Duration
}

func (r result) quantile(q float64) time.Duration {
	d := slices.Clone(r.delays)
	slices.Sort(d)
	i := int(q*float64(len(d)-1) + 0.5)
	return d[i].Round(100 * time.Microsecond)
}

// node is one running server and a client of its surfaces.
type node struct {
	base, gateway string
	cred          server.AdminCredential
	hc            *http.Client
	adminToken    string
}

func run(ctx context.Context, c config) ([]result, error) {
	dbURL, drop, err := pgschema.Temporary(ctx, c.postgresURL, "portcullis_propagation")
	if err != nil {
		return nil, err
	}
	defer drop()
	tmp, err := os.MkdirTemp("", "portcullis-propagation-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	var key [32]byte
	rand.Read(key[:])
	os.Setenv(server.RootKeyEnv, hex.EncodeToString(key[:]))

	nctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var nodes []*node
	for i := range 3 {
		gw, err := freeAddr()
		if err != nil {
			return nil, err
		}
		cfg := server.Config{Dev: true, DataDir: filepath.Join(tmp, fmt.Sprint(i)), DatabaseURL: dbURL, Listen: "127.0.0.1:0",
			ReloadInterval: c.reloadInterval, GatewayListen: []string{"http://" + gw}}
		if i > 0 {
			first := filepath.Join(tmp, "0")
			cfg.TLSCertFile, cfg.TLSKeyFile = filepath.Join(first, "tls", "server.pem"), filepath.Join(first, "tls", "server-key.pem")
			cfg.AdminCredentialFile = filepath.Join(first, "admin.json")
		}
		s, err := server.Start(nctx, cfg, log, io.Discard)
		if err != nil {
			return nil, fmt.Errorf("node %d: %w", i, err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); s.Serve(nctx) }()
		n, err := newNode(filepath.Join(tmp, "0"), "https://"+s.Addr(), "http://"+gw)
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, n)
	}
	// The secret every vault-role change is checked against.
	vaultTok, st := nodes[0].token(nodes[0].cred.ClientID, nodes[0].cred.ClientSecret, vaultScope)
	if st != http.StatusOK {
		return nil, fmt.Errorf("vault token for the admin credential: %d", st)
	}
	if err := nodes[0].kv("PUT", "/secrets/probe", map[string]any{"value": "x"}, vaultTok); err != nil {
		return nil, err
	}
	if _, err := nodes[0].admin("POST", "/tenants/default/applications", map[string]any{"displayName": "orders", "identifierUris": []string{"api://orders"}}, nil); err != nil {
		return nil, err
	}

	// Load: callers obtaining admin tokens (secret authentication, always
	// successful) from each node in turn until the run ends.
	lctx, stopLoad := context.WithCancel(ctx)
	var lwg sync.WaitGroup
	var issued atomic.Int64
	loadStart := time.Now()
	defer func() {
		stopLoad()
		lwg.Wait()
		if c.load > 0 {
			fmt.Printf("load: %d tokens issued in %s (%.0f/s across the 3 nodes)\n", issued.Load(), time.Since(loadStart).Round(time.Millisecond), float64(issued.Load())/time.Since(loadStart).Seconds())
		}
	}()
	for k := range c.load {
		lwg.Add(1)
		go func() {
			defer lwg.Done()
			for j := k; lctx.Err() == nil; j++ {
				n := nodes[j%len(nodes)]
				if _, st := n.token(n.cred.ClientID, n.cred.ClientSecret, n.cred.Scope); st == http.StatusOK {
					issued.Add(1)
				}
			}
		}()
	}

	res := []result{{kind: "client"}, {kind: "vault role"}, {kind: "route"}, {kind: "revocation"}}
	for i := range c.changes {
		w := nodes[i%3]
		others := []*node{nodes[(i+1)%3], nodes[(i+2)%3]}
		name := fmt.Sprintf("propagation-%d", i)

		var app struct {
			AppID string `json:"appId"`
		}
		if _, err := w.admin("POST", "/tenants/default/applications", map[string]any{"displayName": name}, &app); err != nil {
			return nil, err
		}
		var secret struct {
			SecretText string `json:"secretText"`
		}
		t0, err := w.admin("POST", "/tenants/default/applications/"+name+"/passwordCredentials", map[string]any{}, &secret)
		if err != nil {
			return nil, err
		}
		// The writer knows the client at once; its token is presented to
		// the others' vault: 401 while they do not know the client, 403
		// once they do (it has no role yet). Polling the others' token
		// endpoint instead would count failed authentications and soon
		// measure the failure budget.
		tok, st := w.token(app.AppID, secret.SecretText, vaultScope)
		if st != http.StatusOK {
			return nil, fmt.Errorf("token from the writing node: %d", st)
		}
		d, err := observe(c, t0, others, func(_ int, n *node) bool { return n.kvStatus("/secrets/probe", tok) == http.StatusForbidden })
		if err != nil {
			return nil, fmt.Errorf("client %d: %w", i, err)
		}
		res[0].delays = append(res[0].delays, d)

		t0, err = w.admin("POST", "/vaults/default/roleAssignments", map[string]any{"principal": app.AppID, "role": "Key Vault Secrets User"}, nil)
		if err != nil {
			return nil, err
		}
		if d, err = observe(c, t0, others, func(_ int, n *node) bool { return n.kvStatus("/secrets/probe", tok) == http.StatusOK }); err != nil {
			return nil, fmt.Errorf("vault role %d: %w", i, err)
		}
		res[1].delays = append(res[1].delays, d)

		prefix := fmt.Sprintf("/p%d", i)
		api := map[string]any{
			"name":    fmt.Sprintf("api-%d", i),
			"match":   map[string]any{"pathPrefix": prefix},
			"backend": map[string]any{"urls": []string{"http://127.0.0.1:9"}},
			"policy":  map[string]any{"methods": []any{map[string]any{"type": "bearer", "issuers": []any{map[string]any{"tenant": "default"}}, "audiences": []string{"api://orders"}}}},
		}
		if t0, err = w.admin("POST", "/tenants/default/apis", api, nil); err != nil {
			return nil, err
		}
		if d, err = observe(c, t0, others, func(_ int, n *node) bool { return n.gatewayStatus(prefix) == http.StatusUnauthorized }); err != nil {
			return nil, fmt.Errorf("route %d: %w", i, err)
		}
		res[2].delays = append(res[2].delays, d)

		if t0, err = w.admin("DELETE", "/tenants/default/applications/"+app.AppID, nil, nil); err != nil {
			return nil, err
		}
		if d, err = observe(c, t0, others, func(_ int, n *node) bool { return n.kvStatus("/secrets/probe", tok) == http.StatusUnauthorized }); err != nil {
			return nil, fmt.Errorf("revocation %d: %w", i, err)
		}
		res[3].delays = append(res[3].delays, d)
	}
	return res, nil
}

// observe polls every node concurrently until done holds on each, and
// returns the time from t0 to the last of them.
func observe(c config, t0 time.Time, nodes []*node, done func(j int, n *node) bool) (time.Duration, error) {
	var wg sync.WaitGroup
	ends := make([]time.Time, len(nodes))
	errs := make([]error, len(nodes))
	for j, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !done(j, n) {
				if time.Since(t0) > c.timeout {
					errs[j] = fmt.Errorf("a node did not serve the change within %s", c.timeout)
					return
				}
				time.Sleep(c.poll)
			}
			ends[j] = time.Now()
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return 0, err
	}
	return slices.MaxFunc(ends, time.Time.Compare).Sub(t0), nil
}

func newNode(firstDir, base, gateway string) (*node, error) {
	b, err := os.ReadFile(filepath.Join(firstDir, "admin.json"))
	if err != nil {
		return nil, err
	}
	n := &node{base: base, gateway: gateway}
	if err := json.Unmarshal(b, &n.cred); err != nil {
		return nil, err
	}
	ca, err := os.ReadFile(filepath.Join(firstDir, "tls", "ca.pem"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	n.hc = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, MaxIdleConnsPerHost: 8}}
	tok, st := n.token(n.cred.ClientID, n.cred.ClientSecret, n.cred.Scope)
	if st != http.StatusOK {
		return nil, fmt.Errorf("admin token from %s: %d", base, st)
	}
	n.adminToken = tok
	return n, nil
}

func (n *node) token(clientID, secret, scope string) (string, int) {
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {secret}, "scope": {scope}}
	res, err := n.hc.PostForm(n.base+"/"+n.cred.TenantID+"/oauth2/v2.0/token", form)
	if err != nil {
		return "", 0
	}
	defer res.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(res.Body).Decode(&body)
	return body.AccessToken, res.StatusCode
}

var errStatus = errors.New("unexpected status")

// admin calls the admin API and returns when it answered.
func (n *node) admin(method, path string, body, out any) (time.Time, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, n.base+"/admin/v1"+path, rd)
	req.Header.Set("Authorization", "Bearer "+n.adminToken)
	req.Header.Set("Content-Type", "application/json")
	res, err := n.hc.Do(req)
	if err != nil {
		return time.Time{}, err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	at := time.Now()
	if res.StatusCode >= 300 {
		return at, fmt.Errorf("%w: %s %s: %d %s", errStatus, method, path, res.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return at, err
		}
	}
	return at, nil
}

// kv calls the vault's Key Vault REST API (path form) with a bearer token.
func (n *node) kv(method, path string, body any, token string) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, n.base+"/vaults/default"+path+"?api-version=7.6", rd)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	res, err := n.hc.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: vault %s %s: %d %s", errStatus, method, path, res.StatusCode, strings.TrimSpace(string(b)))
	}
	return nil
}

// kvStatus reads a secret with a bearer token and returns the status.
func (n *node) kvStatus(path, token string) int {
	req, _ := http.NewRequest("GET", n.base+"/vaults/default"+path+"?api-version=7.6", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := n.hc.Do(req)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

func (n *node) gatewayStatus(path string) int {
	res, err := n.hc.Get(n.gateway + path)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

// freeAddr returns a loopback address with a port free now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// temporarySchema creates a schema with a random name in the database base
// names and returns a URL whose search_path selects it, and a func that
// drops it with everything in it.
func temporarySchema(ctx context.Context, base string) (string, func(), error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", nil, errors.New("-postgres: give a postgres:// URL")
	}
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return "", nil, fmt.Errorf("-postgres: %w", err)
	}
	defer conn.Close(ctx)
	var b [8]byte
	rand.Read(b[:])
	schema := "portcullis_propagation_" + hex.EncodeToString(b[:])
	ident := pgx.Identifier{schema}.Sanitize()
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+ident); err != nil {
		return "", nil, fmt.Errorf("create schema %s: %w", schema, err)
	}
	drop := func() {
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			fmt.Fprintf(os.Stderr, "propagation: drop schema %s: %v\n", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+ident+" CASCADE"); err != nil {
			fmt.Fprintf(os.Stderr, "propagation: drop schema %s: %v\n", schema, err)
		}
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), drop, nil
}
