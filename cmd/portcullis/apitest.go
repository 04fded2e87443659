package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/portcullis/portcullis/internal/adminclient"
	"github.com/portcullis/portcullis/internal/directory"
)

// requestFlags describe the request that `api explain` dry-runs and `api
// test` sends.
type requestFlags struct {
	method, path, host string
	headers            []string
	cert               string
}

func (f *requestFlags) register(fs *pflag.FlagSet, pathHelp, hostHelp string) {
	fs.StringVar(&f.method, "method", "", "HTTP method of the request (default GET)")
	fs.StringVar(&f.path, "path", "", pathHelp)
	fs.StringVar(&f.host, "host", "", hostHelp)
	fs.StringArrayVar(&f.headers, "header", nil, "request header 'Name: value', e.g. 'Authorization: Bearer TOKEN' (repeatable; values are never printed)")
	fs.StringVar(&f.cert, "cert", "", "client certificate: a PEM file (the CA chain may follow)")
}

// isTokenChar reports whether c may appear in an HTTP token (RFC 9110
// section 5.6.2): a header name or a method.
func isTokenChar(c byte) bool {
	return c < 0x80 && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0)
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTokenChar(s[i]) {
			return false
		}
	}
	return true
}

// parseHeader reads a --header value, 'Name: value'. Its errors name the
// flag by position and never quote the value, which may be a credential.
func parseHeader(n int, s string) (name, value string, err error) {
	name, value, ok := strings.Cut(s, ":")
	switch {
	case !ok:
		return "", "", fmt.Errorf("--header #%d has no ':' between name and value: use 'Name: value', e.g. 'Authorization: Bearer TOKEN'", n)
	case name == "":
		return "", "", fmt.Errorf("--header #%d has no name before ':': use 'Name: value'", n)
	case name != strings.TrimRight(name, " \t"):
		return "", "", fmt.Errorf("--header #%d has a space before ':': write 'Name: value' with the colon right after the name", n)
	case !isToken(name):
		return "", "", fmt.Errorf("--header #%d: the part before ':' is not a header name (letters, digits and !#$%%&'*+-.^_`|~, no spaces): use 'Name: value'", n)
	}
	value = strings.Trim(value, " \t")
	if strings.ContainsAny(value, "\r\n\x00") {
		return "", "", fmt.Errorf("--header #%d (%s): the value holds a line break or NUL", n, name)
	}
	return http.CanonicalHeaderKey(name), value, nil
}

// parsed is the request the flags describe; Host is separate from Header,
// as in net/http.
type parsed struct {
	method, path, host string
	header             http.Header
}

// parse checks the flags. A Host header is the same as --host (net/http
// takes the host from there, not from the header map).
func (f *requestFlags) parse() (parsed, error) {
	p := parsed{method: strings.ToUpper(f.method), path: f.path, host: f.host, header: http.Header{}}
	if p.method != "" && !isToken(p.method) {
		return p, fmt.Errorf("--method %q is not an HTTP method such as GET or POST", f.method)
	}
	if p.path != "" {
		if u, err := url.ParseRequestURI(p.path); err != nil || !strings.HasPrefix(p.path, "/") || u.Host != "" {
			return p, fmt.Errorf("--path %q: give an absolute path such as /orders/1 (a query is allowed)", shownPath(f.path))
		}
	}
	if p.host != "" && strings.ContainsAny(p.host, " /\t\r\n\x00@") {
		return p, fmt.Errorf("--host %q: give a host name, optionally with a port, such as api.example.com", f.host)
	}
	for i, h := range f.headers {
		name, value, err := parseHeader(i+1, h)
		if err != nil {
			return p, err
		}
		if name == "Host" {
			if p.host != "" && p.host != value {
				return p, errors.New("--host and a Host header differ: give one")
			}
			p.host = value
			continue
		}
		p.header.Add(name, value)
	}
	return p, nil
}

// explainRequest is the body of the explain call.
func (f *requestFlags) explainRequest() (adminclient.ExplainRequest, error) {
	p, err := f.parse()
	if err != nil {
		return adminclient.ExplainRequest{}, err
	}
	req := adminclient.ExplainRequest{Method: p.method, Path: p.path, Host: p.host}
	if len(p.header) > 0 {
		req.Headers = p.header
	}
	if f.cert != "" {
		if req.Certificate, err = certificatePEM("cert", f.cert); err != nil {
			return req, err
		}
	}
	return req, nil
}

// certificatePEM returns the certificates of a PEM (or DER) file named by
// --flag, and only them: a private key in the same file is never sent.
func certificatePEM(flag, path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("--%s: %w", flag, err)
	}
	var out bytes.Buffer
	for rest := b; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type == "CERTIFICATE" {
			pem.Encode(&out, &pem.Block{Type: "CERTIFICATE", Bytes: blk.Bytes})
		}
	}
	if out.Len() == 0 {
		if _, err := x509.ParseCertificate(b); err != nil {
			return "", fmt.Errorf("--%s %s holds no certificate: give a PEM file with -----BEGIN CERTIFICATE----- or a DER certificate (e.g. from 'portcullis cert create')", flag, path)
		}
		pem.Encode(&out, &pem.Block{Type: "CERTIFICATE", Bytes: b})
	}
	return out.String(), nil
}

// shownPath is a request path as an error may print it: without its query
// (or fragment), which can hold a key, as Azure Functions' ?code=KEY does.
func shownPath(p string) string {
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		return p[:i] + "?…"
	}
	return p
}

// withoutURL returns the cause of a *url.Error, whose own text quotes the
// whole URL, query included.
func withoutURL(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return ue.Err
	}
	return err
}

// terminalSafe drops control characters (but line breaks and tabs) and
// bidirectional overrides from text that came from the network.
func terminalSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r != '\n' && r != '\t' && unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			return -1
		}
		return r
	}, s)
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(terminalSafe(s)), " ")
}

func newAPIExplainCommand(f *adminFlags) *cobra.Command {
	var rf requestFlags
	cmd := &cobra.Command{
		Use:   "explain NAME",
		Short: "Dry-run an API's policy on a request and show each step of the decision",
		Long: `Run the policy of the API NAME, as the gateway of the server serves it, on
the request the flags describe, without calling the backend. It prints each
step (which method was tried, which rule held or failed, and why), then the
decision (allowed, or the status and error the gateway would answer), then
the principal the request would act as. The request is first checked
against the API's own match, as the gateway routes: a method it does not
accept is 405, a path outside its path prefix (or a --host it does not
serve) is 404. Whether another API would take the request, TLS and the
failed-authentication budget are not part of the dry run: use 'api test'
for a real request.

The headers and the certificate are sent to the admin API, used for the dry
run and never printed back. A --cert file may also hold the private key;
only the certificates are sent.`,
		Example: `  # Basic: the connector's user name and password
  portcullis api explain claims --path /claims \
      --header "Authorization: Basic $(printf 'connector:%s' "$PASSWORD" | base64)"

  # API key in the x-functions-key header
  portcullis api explain functions --path /api/orders --header "x-functions-key: $KEY"

  # client certificate (one of the pinned ones during a rollover)
  portcullis api explain signup --host api.example.com --path /signup --cert signup-client.pem

  # bearer: a token of tenant default that should carry the role Orders.Read
  TOKEN=$(echo "$SECRET" | portcullis token get --client-id $APPID --secret - --scope api://orders/.default)
  portcullis api explain orders --method GET --path /orders/1 --header "Authorization: Bearer $TOKEN"

  # the result in the admin API's JSON
  portcullis api explain orders --path /orders/1 -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req, err := rf.explainRequest()
			if err != nil {
				return err
			}
			return f.run(cmd, func(c *adminclient.Client, p *printer) error {
				res, err := c.ExplainAPI(cmd.Context(), f.tenant, args[0], req)
				if err != nil {
					return err
				}
				if p.json {
					return p.JSON(res)
				}
				return printExplain(p.w, res)
			})
		},
	}
	rf.register(cmd.Flags(), "path of the request, e.g. /orders/1 (default: the API's path prefix)", "Host of the request, e.g. api.example.com (default none)")
	return cmd
}

// printExplain prints the steps aligned, then the decision and the
// principal.
func printExplain(w io.Writer, res adminclient.ExplainResult) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, s := range res.Steps {
		what := s.Method
		switch {
		case what == "":
			what = s.Rule
		case s.Rule != "": // a step within a method, e.g. clientCertificate revocation
			what += " " + s.Rule
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", oneLine(s.Phase), orDash(oneLine(what)), oneLine(s.Outcome), oneLine(s.Detail))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if res.Allowed {
		fmt.Fprintln(w, "decision   allowed: the request goes to the backend")
	} else {
		fmt.Fprintf(w, "decision   refused: %d %s: %s\n", res.Status, oneLine(res.Error), oneLine(res.Description))
	}
	pr := res.Principal
	if pr == nil {
		fmt.Fprintln(w, "principal  none")
		return nil
	}
	parts := []string{"method " + pr.Method}
	for _, kv := range [][2]string{{"subject", pr.Subject}, {"tenant", pr.TenantID}, {"app", pr.AppID}, {"object", pr.ObjectID},
		{"issuer", pr.Issuer}, {"roles", strings.Join(pr.Roles, ",")}, {"scopes", strings.Join(pr.Scopes, ",")}, {"credential", pr.CredentialID}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+" "+kv[1])
		}
	}
	_, err := fmt.Fprintf(w, "principal  %s\n", oneLine(strings.Join(parts, "; ")))
	return err
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// testFlags are the flags of `api test` beyond the request's.
type testFlags struct {
	requestFlags
	gateway            string
	key                string
	data               string
	insecureSkipVerify bool
	timeout            time.Duration
}

// maxShownBody is how much of the answer `api test` prints.
const maxShownBody = 4 << 10

func newAPITestCommand(f *adminFlags) *cobra.Command {
	var tf testFlags
	cmd := &cobra.Command{
		Use:   "test NAME",
		Short: "Send a real request through the gateway to an API",
		Long: `Send a request through the gateway to the API NAME and print the answer:
the status line, the decision id (X-Portcullis-Decision-Id, to find the
decision in the audit log), WWW-Authenticate and Retry-After when present,
and the first 4 KiB of the body.

The request goes to --gateway, by default the first https listener the
server reports (else the first http one); a listener on 0.0.0.0 or [::] is
reached on loopback. The path is --path, by default the API's path prefix;
the Host header is --host, by default the API's first exact host. The
method is --method, by default GET (POST with --data). Here --data is the
body; the data directory holding admin.json comes from $PORTCULLIS_DATA or
./portcullis-data.

The gateway's TLS certificate is trusted when it chains to the CA the CLI
trusts for the admin API (--ca, $PORTCULLIS_CA or the dev CA of admin.json)
or to the system roots, and names the host connected to or the Host sent.

Exit code: 0 when the answer is 2xx, 1 otherwise.`,
		Example: `  # through the dev server's gateway, with a bearer token
  portcullis api test orders --path /orders/1 --header "Authorization: Bearer $TOKEN"

  # API key, with a JSON body
  portcullis api test functions --path /api/orders --header "x-functions-key: $KEY" \
      --header 'Content-Type: application/json' --data @order.json

  # client certificate and key, against a given listener
  portcullis api test signup --gateway https://gateway.example.com:8444 \
      --cert signup-client.pem --key signup-client.key`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAPITest(cmd, f, &tf, args[0])
		},
	}
	fs := cmd.Flags()
	tf.register(fs, "path of the request (default: the API's path prefix)", "Host header of the request (default: the API's first exact host)")
	fs.Lookup("cert").Usage = "client certificate: a PEM file (with --key, or holding the key too)"
	fs.StringVar(&tf.gateway, "gateway", "", "gateway listener URL, https://host:port or http://host:port (default: from the server, https first)")
	fs.StringVar(&tf.key, "key", "", "private key of --cert, a PEM file")
	fs.StringVar(&tf.data, "data", "", "request body: the text, or @FILE for a file's content (@- for standard input)")
	fs.BoolVar(&tf.insecureSkipVerify, "insecure-skip-verify", false, "do not verify the gateway's TLS certificate (tests only)")
	fs.DurationVar(&tf.timeout, "timeout", 30*time.Second, "give up after this long")
	return cmd
}

// gatewayURL checks a listener URL and returns it without a path.
func gatewayURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return nil, fmt.Errorf("--gateway %q: give the listener as https://host:port or http://host:port", s)
	}
	host, port := u.Hostname(), u.Port()
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
		if ip.To4() == nil {
			host = "::1"
		}
	}
	if port != "" {
		u.Host = net.JoinHostPort(host, port)
	} else if strings.Contains(host, ":") {
		u.Host = "[" + host + "]"
	} else {
		u.Host = host
	}
	u.Path = ""
	return u, nil
}

// pickListener prefers the first https listener, else the first http one.
func pickListener(ls []string) (string, bool) {
	for _, scheme := range []string{"https://", "http://"} {
		for _, l := range ls {
			if strings.HasPrefix(strings.ToLower(l), scheme) {
				return l, true
			}
		}
	}
	return "", false
}

// firstExactHost is the API's first host that is not a wildcard.
func firstExactHost(hosts []string) string {
	for _, h := range hosts {
		if !strings.HasPrefix(h, "*") {
			return h
		}
	}
	return ""
}

func (tf *testFlags) body(stdin io.Reader) ([]byte, error) {
	switch {
	case tf.data == "@-":
		return io.ReadAll(stdin)
	case strings.HasPrefix(tf.data, "@"):
		b, err := os.ReadFile(tf.data[1:])
		if err != nil {
			return nil, fmt.Errorf("--data: %w", err)
		}
		return b, nil
	}
	return []byte(tf.data), nil
}

func (tf *testFlags) clientCertificate() ([]tls.Certificate, error) {
	if tf.cert == "" {
		if tf.key != "" {
			return nil, errors.New("--key needs --cert, the certificate it belongs to")
		}
		return nil, nil
	}
	key := tf.key
	if key == "" {
		key = tf.cert
	}
	c, err := tls.LoadX509KeyPair(tf.cert, key)
	if err != nil {
		if tf.key == "" {
			return nil, fmt.Errorf("--cert %s: %v (give the private key with --key, or a PEM file holding both)", tf.cert, err)
		}
		return nil, fmt.Errorf("--cert %s with --key %s: %v", tf.cert, tf.key, err)
	}
	return []tls.Certificate{c}, nil
}

// tlsConfig trusts roots and accepts a certificate that names either the
// host connected to or the virtual host: a dev gateway's certificate names
// the loopback address, a production one the APIs' host names.
func (tf *testFlags) tlsConfig(roots *x509.CertPool, dialHost, virtualHost string, certs []tls.Certificate) *tls.Config {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: certs, ServerName: dialHost}
	if virtualHost != "" && net.ParseIP(virtualHost) == nil {
		cfg.ServerName = virtualHost
	}
	if tf.insecureSkipVerify {
		cfg.InsecureSkipVerify = true
		return cfg
	}
	// Verification is done below, against either name.
	cfg.InsecureSkipVerify = true
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("the gateway sent no certificate")
		}
		inter := x509.NewCertPool()
		for _, c := range cs.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		var first error
		for _, name := range []string{virtualHost, dialHost} {
			if name == "" {
				continue
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: name})
			if err == nil {
				return nil
			}
			if first == nil {
				first = err
			}
		}
		return fmt.Errorf("the gateway's certificate is not trusted: %w (give its CA with --ca or %s, or --insecure-skip-verify for a test gateway)", first, adminclient.EnvCA)
	}
	return cfg
}

func runAPITest(cmd *cobra.Command, f *adminFlags, tf *testFlags, name string) error {
	if o := strings.ToLower(f.output); o != "" && o != "table" {
		return fmt.Errorf("--output %q: api test prints the gateway's HTTP answer as it is; it has no JSON form", f.output)
	}
	req, err := tf.parse()
	if err != nil {
		return err
	}
	certs, err := tf.clientCertificate()
	if err != nil {
		return err
	}
	body, err := tf.body(cmd.InOrStdin())
	if err != nil {
		return err
	}
	if req.method == "" {
		req.method = http.MethodGet
		if tf.data != "" {
			req.method = http.MethodPost
		}
	}
	// The CA the CLI trusts for the admin API; without a server address
	// (every default given by flags) only --ca or $PORTCULLIS_CA.
	caFile := first(f.ca, os.Getenv(adminclient.EnvCA))
	if ep, err := adminclient.LoadEndpoint(f.flags()); err == nil {
		caFile = ep.CAFile
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), tf.timeout)
	defer cancel()

	// The admin API is asked only for what the flags leave out.
	var c *adminclient.Client
	admin := func() (*adminclient.Client, error) {
		if c == nil {
			var err error
			c, err = f.client()
			return c, err
		}
		return c, nil
	}
	listener := tf.gateway
	if listener == "" {
		c, err := admin()
		if err != nil {
			return err
		}
		info, err := c.Gateway(ctx)
		if err != nil {
			return err
		}
		var ok bool
		if listener, ok = pickListener(info.Listeners); !ok {
			return errors.New("the server reports no gateway listener: give --gateway https://host:port")
		}
	}
	gw, err := gatewayURL(listener)
	if err != nil {
		return err
	}
	if req.path == "" || req.host == "" {
		c, err := admin()
		if err != nil {
			return err
		}
		api, err := c.GetAPI(ctx, f.tenant, name)
		if err != nil {
			return err
		}
		req.path = first(req.path, api.Match.PathPrefix, "/")
		req.host = first(req.host, firstExactHost(api.Match.Hosts))
	}
	roots, err := adminclient.GatewayRoots(caFile)
	if err != nil {
		return err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil // the gateway is addressed directly
	tr.TLSClientConfig = tf.tlsConfig(roots, gw.Hostname(), hostOnly(req.host), certs)
	hc := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	defer tr.CloseIdleConnections()

	hr, err := http.NewRequestWithContext(ctx, req.method, gw.String()+req.path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("build the request for %s: %v", shownPath(req.path), withoutURL(err))
	}
	hr.Header = req.header
	if req.host != "" {
		hr.Host = req.host
	}
	resp, err := hc.Do(hr)
	if err != nil {
		return fmt.Errorf("%s %s through the gateway at %s: %w", req.method, shownPath(req.path), gw, withoutURL(err))
	}
	defer resp.Body.Close()
	shown, err := io.ReadAll(io.LimitReader(resp.Body, maxShownBody))
	if err != nil {
		return fmt.Errorf("read the answer: %w", err)
	}
	more, _ := io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<30))
	printTestAnswer(cmd.OutOrStdout(), resp, shown, more)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("the gateway answered %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	return nil
}

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return strings.Trim(hostport, "[]")
}

func printTestAnswer(w io.Writer, resp *http.Response, shown []byte, more int64) {
	fmt.Fprintf(w, "%s %s\n", resp.Proto, oneLine(resp.Status))
	for _, h := range []string{"X-Portcullis-Decision-Id", "WWW-Authenticate", "Retry-After"} {
		for _, v := range resp.Header.Values(h) {
			fmt.Fprintf(w, "%s: %s\n", h, oneLine(v))
		}
	}
	fmt.Fprintln(w)
	if len(shown) > 0 {
		s := terminalSafe(string(shown))
		fmt.Fprint(w, s)
		if !strings.HasSuffix(s, "\n") {
			fmt.Fprintln(w)
		}
	}
	if more > 0 {
		fmt.Fprintf(w, "… (%d more bytes not shown)\n", more)
	}
}

// apiProblem is the gateway's problem with api, "" when it has none or
// the gateway is off on the server.
func apiProblem(ctx context.Context, c *adminclient.Client, api directory.API) (string, error) {
	info, err := c.Gateway(ctx)
	var ae *adminclient.APIError
	if errors.As(err, &ae) && ae.Status == http.StatusServiceUnavailable {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	for _, p := range info.Problems {
		if p.TenantID == api.TenantID && p.API == api.Name {
			return p.Reason, nil
		}
	}
	return "", nil
}
