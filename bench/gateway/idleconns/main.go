// Command idleconns opens N keep-alive TLS connections to a gateway listener (with a client
// certificate, for mTLS APIs), has one request answered on each, and then holds them idle until it
// is stopped, so that the gateway's memory per idle connection can be read from its RSS. Loopback
// only.
//
//	idleconns -url https://127.0.0.1:18443/mtls/ -n 5000 -cacert ca.pem -cert client.crt -key client.key
package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"sync"
)

func main() {
	rawURL := flag.String("url", "", "https URL of an API on the gateway (loopback)")
	n := flag.Int("n", 1000, "connections to open")
	caFile := flag.String("cacert", "", "PEM CA that signed the listener's certificate")
	certFile := flag.String("cert", "", "client certificate (PEM), optional")
	keyFile := flag.String("key", "", "client key (PEM), with -cert")
	flag.Parse()
	if err := run(*rawURL, *n, *caFile, *certFile, *keyFile); err != nil {
		fmt.Fprintln(os.Stderr, "idleconns:", err)
		os.Exit(1)
	}
}

func run(rawURL string, n int, caFile, certFile, keyFile string) error {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "https" {
		return fmt.Errorf("-url must be an https URL, got %q", rawURL)
	}
	if ip := net.ParseIP(u.Hostname()); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("-url must name a loopback address, got %q", u.Hostname())
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return err
	}
	cfg := &tls.Config{RootCAs: x509.NewCertPool(), NextProtos: []string{"http/1.1"}, ClientSessionCache: tls.NewLRUClientSessionCache(64)}
	if !cfg.RootCAs.AppendCertsFromPEM(pem) {
		return fmt.Errorf("%s holds no PEM certificate", caFile)
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return err
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	var (
		mu    sync.Mutex
		conns []*tls.Conn
		fails int
		wg    sync.WaitGroup
	)
	sem := make(chan struct{}, 32)
	for range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := openOne(u, cfg)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				fails++
				return
			}
			conns = append(conns, c)
		}()
	}
	wg.Wait()
	fmt.Printf("open %d failed %d\n", len(conns), fails)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt)
	<-stop
	for _, c := range conns {
		c.Close()
	}
	return nil
}

// openOne opens a connection and has one request answered on it.
func openOne(u *url.URL, cfg *tls.Config) (*tls.Conn, error) {
	c, err := tls.Dial("tcp", u.Host, cfg)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", u.RequestURI(), u.Host)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("status %s", resp.Status)
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	io.Copy(io.Discard, resp.Body)
	return c, nil
}
