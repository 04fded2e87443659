package oauthclient

import (
	"bytes"
	"errors"
	"net"
	"net/url"
	"strings"
	"syscall"
)

// A ConnectionError says why the server at Base (scheme://host:port) could
// not be talked to at all: nothing listens there, the name does not
// resolve, or one side speaks HTTPS and the other plain HTTP. Its message
// names the address once and what to change.
type ConnectionError struct {
	Base   string // scheme://host[:port] of the request
	Reason string // the whole message
	Err    error  // the underlying error; nil for a wrong-scheme answer
}

func (e *ConnectionError) Error() string { return e.Reason }
func (e *ConnectionError) Unwrap() error { return e.Err }

// goHTTPToHTTPS is what Go's TLS servers (and Portcullis) answer, with 400,
// to a plain HTTP request on their HTTPS port.
var goHTTPToHTTPS = []byte("Client sent an HTTP request to an HTTPS server")

// baseOf returns scheme://host of rawURL.
func baseOf(rawURL string) (*url.URL, string) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, rawURL
	}
	return u, u.Scheme + "://" + u.Host
}

// PlainHTTPToHTTPS returns a ConnectionError when an answer (status, body)
// to a request for rawURL shows that the request was plain HTTP on an
// HTTPS port; nil otherwise.
func PlainHTTPToHTTPS(rawURL string, status int, body []byte) error {
	if status != 400 || !bytes.Contains(body, goHTTPToHTTPS) {
		return nil
	}
	u, base := baseOf(rawURL)
	fix := base
	if u != nil {
		fix = "https://" + u.Host
	}
	return &ConnectionError{Base: base, Reason: base + " speaks HTTPS, not plain HTTP: use " + fix}
}

// ExplainConnection returns a ConnectionError for a transport error err of
// a request for rawURL when it recognises the cause (connection refused,
// unknown host, HTTPS to a plain-HTTP port, a plain-HTTP request reset by
// what is probably an HTTPS port); else nil.
func ExplainConnection(rawURL string, err error) error {
	if err == nil {
		return nil
	}
	u, base := baseOf(rawURL)
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return &ConnectionError{Base: base, Reason: "nothing answers at " + base + " (connection refused)", Err: err}
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		host := base
		if u != nil {
			host = u.Hostname()
		}
		return &ConnectionError{Base: base, Reason: "the host name " + host + " of " + base + " does not resolve", Err: err}
	case u != nil && u.Scheme == "http" && (errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed)):
		// An HTTPS server answers a plain-HTTP request with 400 and closes
		// at once; with a request body it has not read (a token request
		// with a client assertion), the close resets the connection before
		// the client has read the 400. Which error the client then sees
		// depends on timing: a reset, a broken pipe, or (when the
		// transport's writer failed first and closed the connection) a read
		// on a closed connection.
		return &ConnectionError{Base: base, Reason: base + " reset the connection: it is probably an HTTPS port; use https://" + u.Host, Err: err}
	case strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"),
		strings.Contains(err.Error(), "first record does not look like a TLS handshake"):
		return &ConnectionError{Base: base, Reason: base + " answers plain HTTP, not HTTPS: it is not the HTTPS port of a Portcullis server (the metrics port, or a gateway http:// listener?)", Err: err}
	}
	return nil
}
