// Command loadgen is a small closed-loop HTTP/1.1 keep-alive load generator in the
// style of wrk (N connections, each sending the next request as soon as the
// previous response is read), with what wrk lacks: it can present a TLS client
// certificate, so it measures mTLS listeners, and with -conn-requests it
// reconnects every N requests, resuming the TLS session from a client session
// cache (the handshakes and resumptions are counted). It prints one JSON line
// with the same fields the wrk report script prints.
//
// From peer-bench's cmd/loadgen (../shared/reference/peer-bench); added here:
// -conn-requests, the session cache and its counters, and a loopback-only check.
package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

type headers []string

func (h *headers) String() string     { return strings.Join(*h, ", ") }
func (h *headers) Set(v string) error { *h = append(*h, v); return nil }

type result struct {
	Tool      string  `json:"tool"`
	Requests  int64   `json:"requests"`
	DurationS float64 `json:"duration_s"`
	RPS       float64 `json:"rps"`
	P50us     float64 `json:"p50_us"`
	P90us     float64 `json:"p90_us"`
	P99us     float64 `json:"p99_us"`
	MaxUs     float64 `json:"max_us"`
	MeanUs    float64 `json:"mean_us"`
	Connect   int64   `json:"err_connect"`
	Read      int64   `json:"err_read"`
	Write     int64   `json:"err_write"`
	Timeout   int64   `json:"err_timeout"`
	Status    int64   `json:"err_status"`
	TLS       string  `json:"tls,omitempty"`
	Handshake int64   `json:"tls_handshakes,omitempty"`
	Resumed   int64   `json:"tls_resumed,omitempty"`
	Conns     int     `json:"connections"`
	Procs     int     `json:"gomaxprocs"`
}

type worker struct {
	lat                                   []int64
	connect, read, write, timeout, status int64
	handshakes, resumed                   int64
	tlsInfo                               string
}

func main() {
	rawURL := flag.String("url", "http://127.0.0.1:18080/", "target URL (http or https)")
	conns := flag.Int("c", 64, "connections")
	dur := flag.Duration("d", 10*time.Second, "duration")
	timeout := flag.Duration("timeout", 10*time.Second, "per-request timeout")
	certFile := flag.String("cert", "", "client certificate (PEM)")
	keyFile := flag.String("key", "", "client key (PEM)")
	caFile := flag.String("cacert", "", "CA to verify the server with")
	expect := flag.Int("expect", 0, "if set, exit non-zero unless the first response has this status")
	connRequests := flag.Int("conn-requests", 0, "close and redial each connection after this many requests (0: keep it); TLS sessions are resumed")
	var hdrs headers
	flag.Var(&hdrs, "H", "extra request header (repeatable)")
	flag.Parse()

	u, err := url.Parse(*rawURL)
	if err != nil {
		log.Fatal(err)
	}
	if ip := net.ParseIP(u.Hostname()); ip == nil || !ip.IsLoopback() {
		log.Fatalf("-url %s: the host must be a loopback IP address such as 127.0.0.1 (this tool only loads this machine)", *rawURL)
	}
	host := u.Host
	if u.Port() == "" {
		if u.Scheme == "https" {
			host += ":443"
		} else {
			host += ":80"
		}
	}
	path := u.RequestURI()
	var req bytes.Buffer
	fmt.Fprintf(&req, "GET %s HTTP/1.1\r\nHost: %s\r\n", path, u.Host)
	for _, h := range hdrs {
		fmt.Fprintf(&req, "%s\r\n", h)
	}
	req.WriteString("\r\n")
	reqBytes := req.Bytes()

	var tlsCfg *tls.Config
	if u.Scheme == "https" {
		tlsCfg = &tls.Config{ServerName: u.Hostname(), NextProtos: []string{"http/1.1"}, MinVersion: tls.VersionTLS12,
			ClientSessionCache: tls.NewLRUClientSessionCache(2 * *conns)}
		if *caFile != "" {
			b, err := os.ReadFile(*caFile)
			if err != nil {
				log.Fatal(err)
			}
			pool := x509.NewCertPool()
			pool.AppendCertsFromPEM(b)
			tlsCfg.RootCAs = pool
		} else {
			tlsCfg.InsecureSkipVerify = true
		}
		if *certFile != "" {
			c, err := tls.LoadX509KeyPair(*certFile, *keyFile)
			if err != nil {
				log.Fatal(err)
			}
			tlsCfg.Certificates = []tls.Certificate{c}
		}
	}
	dial := func() (net.Conn, *tls.ConnectionState, error) {
		d := net.Dialer{Timeout: *timeout}
		c, err := d.Dial("tcp", host)
		if err != nil {
			return nil, nil, err
		}
		if tlsCfg == nil {
			return c, nil, nil
		}
		tc := tls.Client(c, tlsCfg)
		tc.SetDeadline(time.Now().Add(*timeout))
		if err := tc.Handshake(); err != nil {
			c.Close()
			return nil, nil, err
		}
		tc.SetDeadline(time.Time{})
		st := tc.ConnectionState()
		return tc, &st, nil
	}

	if *expect != 0 {
		c, _, err := dial()
		if err != nil {
			log.Fatalf("probe: %v", err)
		}
		c.SetDeadline(time.Now().Add(*timeout))
		c.Write(reqBytes)
		st, _, err := readResponse(bufio.NewReader(c))
		c.Close()
		if err != nil {
			log.Fatalf("probe: %v", err)
		}
		if st != *expect {
			log.Fatalf("probe: status %d, want %d", st, *expect)
		}
	}

	start := time.Now()
	deadline := start.Add(*dur)
	ws := make([]*worker, *conns)
	var wg sync.WaitGroup
	for i := range ws {
		w := &worker{lat: make([]int64, 0, 1<<16)}
		ws[i] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			var c net.Conn
			var br *bufio.Reader
			served := 0
			for time.Now().Before(deadline) {
				if c == nil {
					var err error
					var st *tls.ConnectionState
					c, st, err = dial()
					if err != nil {
						w.connect++
						time.Sleep(10 * time.Millisecond) // back off from a refusing listener
						continue
					}
					if st != nil {
						w.handshakes++
						if st.DidResume {
							w.resumed++
						}
						w.tlsInfo = tls.VersionName(st.Version) + " " + tls.CipherSuiteName(st.CipherSuite)
					}
					br = bufio.NewReaderSize(c, 16<<10)
					served = 0
				}
				t0 := time.Now()
				c.SetDeadline(t0.Add(*timeout))
				if _, err := c.Write(reqBytes); err != nil {
					w.write++
					c.Close()
					c = nil
					continue
				}
				st, closeAfter, err := readResponse(br)
				if err != nil {
					var ne net.Error
					if errors.As(err, &ne) && ne.Timeout() {
						w.timeout++
					} else {
						w.read++
					}
					c.Close()
					c = nil
					continue
				}
				w.lat = append(w.lat, int64(time.Since(t0)))
				if st > 399 {
					w.status++
				}
				served++
				if closeAfter || (*connRequests > 0 && served >= *connRequests) {
					c.Close()
					c = nil
				}
			}
			if c != nil {
				c.Close()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)

	var all []int64
	r := result{Tool: "loadgen", Conns: *conns, Procs: runtime.GOMAXPROCS(0), DurationS: elapsed.Seconds()}
	for _, w := range ws {
		all = append(all, w.lat...)
		r.Connect += w.connect
		r.Read += w.read
		r.Write += w.write
		r.Timeout += w.timeout
		r.Status += w.status
		r.Handshake += w.handshakes
		r.Resumed += w.resumed
		if w.tlsInfo != "" {
			r.TLS = w.tlsInfo
		}
	}
	slices.Sort(all)
	r.Requests = int64(len(all))
	r.RPS = float64(len(all)) / elapsed.Seconds()
	if n := len(all); n > 0 {
		pct := func(p float64) float64 {
			i := int(p/100*float64(n) + 0.5)
			if i >= n {
				i = n - 1
			}
			return float64(all[i]) / 1e3
		}
		r.P50us, r.P90us, r.P99us = pct(50), pct(90), pct(99)
		r.MaxUs = float64(all[n-1]) / 1e3
		var sum float64
		for _, v := range all {
			sum += float64(v)
		}
		r.MeanUs = sum / float64(n) / 1e3
	}
	json.NewEncoder(os.Stdout).Encode(r)
}

// readResponse reads one HTTP/1.1 response (Content-Length or chunked body) and
// reports its status and whether the server will close the connection.
func readResponse(br *bufio.Reader) (status int, closeAfter bool, err error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, false, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, false, fmt.Errorf("bad status line %q", line)
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, false, fmt.Errorf("bad status line %q", line)
	}
	if line[7] == '0' {
		closeAfter = true
	}
	clen, chunked := -1, false
	for {
		line, err = br.ReadSlice('\n')
		if err != nil {
			return 0, false, err
		}
		if len(line) <= 2 {
			break
		}
		i := bytes.IndexByte(line, ':')
		if i < 0 {
			continue
		}
		name := line[:i]
		val := bytes.TrimSpace(line[i+1:])
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			clen, err = strconv.Atoi(string(val))
			if err != nil {
				return 0, false, err
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.Contains(bytes.ToLower(val), []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			if bytes.EqualFold(val, []byte("close")) {
				closeAfter = true
			} else if bytes.EqualFold(val, []byte("keep-alive")) {
				closeAfter = false
			}
		}
	}
	switch {
	case chunked:
		for {
			l, err := br.ReadSlice('\n')
			if err != nil {
				return 0, false, err
			}
			s := strings.TrimSpace(string(l))
			if i := strings.IndexByte(s, ';'); i >= 0 {
				s = s[:i]
			}
			n, err := strconv.ParseInt(s, 16, 64)
			if err != nil {
				return 0, false, err
			}
			if n == 0 {
				for { // trailers
					l, err := br.ReadSlice('\n')
					if err != nil {
						return 0, false, err
					}
					if len(l) <= 2 {
						return status, closeAfter, nil
					}
				}
			}
			if _, err := br.Discard(int(n) + 2); err != nil {
				return 0, false, err
			}
		}
	case clen >= 0:
		if _, err := br.Discard(clen); err != nil {
			return 0, false, err
		}
	case status == 204 || status == 304 || (status >= 100 && status < 200):
	default:
		// Body delimited by close.
		io.Copy(io.Discard, br)
		closeAfter = true
	}
	return status, closeAfter, nil
}
