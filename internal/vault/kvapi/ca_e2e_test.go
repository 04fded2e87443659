package kvapi_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azcertificates"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
)

func TestKeyVault_IssuersAndBuiltInCAThroughAzcertificates(t *testing.T) {
	onEveryBackend(t, issuersAndBuiltInCA)
}

// caPolicy is the policy `portcullis ca create` uses: a CA key that never
// leaves the vault.
func caPolicy(subject, issuer string) *azcertificates.CertificatePolicy {
	return &azcertificates.CertificatePolicy{
		IssuerParameters: &azcertificates.IssuerParameters{Name: to.Ptr(issuer)},
		KeyProperties:    &azcertificates.KeyProperties{KeyType: to.Ptr(azcertificates.KeyTypeEC), Curve: to.Ptr(azcertificates.CurveNameP384), Exportable: to.Ptr(false)},
		X509CertificateProperties: &azcertificates.X509CertificateProperties{
			Subject: to.Ptr(subject), ValidityInMonths: to.Ptr[int32](24),
			KeyUsage: []*azcertificates.KeyUsageType{to.Ptr(azcertificates.KeyUsageTypeKeyCertSign), to.Ptr(azcertificates.KeyUsageTypeCRLSign), to.Ptr(azcertificates.KeyUsageTypeDigitalSignature)},
		},
	}
}

// leafPolicy is a PEM certificate from issuer with one EKU and DNS names.
func leafPolicy(subject, issuer, eku string, dns ...string) *azcertificates.CertificatePolicy {
	p := &azcertificates.CertificatePolicy{
		IssuerParameters: &azcertificates.IssuerParameters{Name: to.Ptr(issuer)},
		KeyProperties:    &azcertificates.KeyProperties{KeyType: to.Ptr(azcertificates.KeyTypeEC), Curve: to.Ptr(azcertificates.CurveNameP256)},
		SecretProperties: &azcertificates.SecretProperties{ContentType: to.Ptr("application/x-pem-file")},
		X509CertificateProperties: &azcertificates.X509CertificateProperties{
			Subject: to.Ptr(subject), EnhancedKeyUsage: []*string{to.Ptr(eku)}, ValidityInMonths: to.Ptr[int32](60),
		},
	}
	if len(dns) > 0 {
		p.X509CertificateProperties.SubjectAlternativeNames = &azcertificates.SubjectAlternativeNames{}
		for _, d := range dns {
			p.X509CertificateProperties.SubjectAlternativeNames.DNSNames = append(p.X509CertificateProperties.SubjectAlternativeNames.DNSNames, to.Ptr(d))
		}
	}
	return p
}

const (
	ekuServerAuth = "1.3.6.1.5.5.7.3.1"
	ekuClientAuth = "1.3.6.1.5.5.7.3.2"
)

func issuersAndBuiltInCA(t *testing.T, e *env) {
	ctx := context.Background()
	admin := e.secretCredential(t, e.adminApp())
	certs := e.certificates(t, admin, pathForm)
	secrets := e.secrets(t, admin, pathForm)

	create := func(t *testing.T, name string, p *azcertificates.CertificatePolicy) azcertificates.GetCertificateOperationResponse {
		t.Helper()
		return createCertificate(t, certs, name, azcertificates.CreateCertificateParameters{CertificatePolicy: p})
	}
	setPortcullis := func(name string) (azcertificates.SetIssuerResponse, error) {
		return certs.SetIssuer(ctx, name, azcertificates.SetIssuerParameters{
			Provider:            to.Ptr("Portcullis"),
			OrganizationDetails: &azcertificates.OrganizationDetails{ID: to.Ptr("platform"), AdminContacts: []*azcertificates.AdministratorContact{{Email: to.Ptr("pki@example.test"), FirstName: to.Ptr("Pat")}}},
		}, nil)
	}

	create(t, "root-ca", caPolicy("CN=Test Root CA,O=Portcullis Tests", "Self"))

	t.Run("refusals say what exists and what to do", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			issuer string
			params azcertificates.SetIssuerParameters
			want   string
		}{
			{"public CA provider", "digicert", azcertificates.SetIssuerParameters{Provider: to.Ptr("DigiCert")}, "the one provider it serves is"},
			{"password", "root-ca", azcertificates.SetIssuerParameters{Provider: to.Ptr("Portcullis"), Credentials: &azcertificates.IssuerCredentials{Password: to.Ptr("hunter2-secret")}}, "credentials.pwd is not accepted"},
			{"reserved name", "Self", azcertificates.SetIssuerParameters{Provider: to.Ptr("Portcullis")}, "reserved"},
			{"no CA certificate", "nothing-here", azcertificates.SetIssuerParameters{Provider: to.Ptr("Portcullis")}, "portcullis ca create nothing-here"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := certs.SetIssuer(ctx, tc.issuer, tc.params, nil)
				msg := respErr(t, err, http.StatusBadRequest, "BadParameter")
				if !strings.Contains(msg, tc.want) || strings.Contains(msg, "hunter2") {
					t.Fatalf("message %q does not say %q (or echoes the password)", msg, tc.want)
				}
			})
		}
		create(t, "leaky-ca", &azcertificates.CertificatePolicy{
			IssuerParameters:          &azcertificates.IssuerParameters{Name: to.Ptr("Self")},
			X509CertificateProperties: &azcertificates.X509CertificateProperties{Subject: to.Ptr("CN=leaky"), KeyUsage: []*azcertificates.KeyUsageType{to.Ptr(azcertificates.KeyUsageTypeKeyCertSign)}},
		})
		_, err := setPortcullis("leaky-ca")
		if msg := respErr(t, err, http.StatusBadRequest, "BadParameter"); !strings.Contains(msg, "exportable") {
			t.Fatalf("exportable CA key: %q", msg)
		}
		create(t, "not-a-ca", leafPolicy("CN=plain", "Self", ekuServerAuth))
		_, err = setPortcullis("not-a-ca")
		if msg := respErr(t, err, http.StatusBadRequest, "BadParameter"); !strings.Contains(msg, "not a CA") {
			t.Fatalf("non-CA: %q", msg)
		}
		_, err = certs.CreateCertificate(ctx, "orphan", azcertificates.CreateCertificateParameters{CertificatePolicy: leafPolicy("CN=orphan", "no-such-issuer", ekuServerAuth)}, nil)
		if msg := respErr(t, err, http.StatusBadRequest, "BadParameter"); !strings.Contains(msg, "does not exist") {
			t.Fatalf("unknown issuer: %q", msg)
		}
	})

	t.Run("issuer CRUD in Key Vault's shapes", func(t *testing.T) {
		set, err := setPortcullis("root-ca")
		if err != nil {
			t.Fatalf("SetIssuer: %v", err)
		}
		if *set.Provider != "Portcullis" || !*set.Attributes.Enabled || set.Attributes.Created == nil || *set.OrganizationDetails.AdminContacts[0].Email != "pki@example.test" || !strings.HasSuffix(*set.ID, "/certificates/issuers/root-ca") {
			t.Fatalf("SetIssuer answered %+v", set.Issuer)
		}
		got, err := certs.GetIssuer(ctx, "ROOT-CA", nil)
		if err != nil || *got.Provider != "Portcullis" || *got.OrganizationDetails.ID != "platform" {
			t.Fatalf("GetIssuer: %+v, %v", got.Issuer, err)
		}
		up, err := certs.UpdateIssuer(ctx, "root-ca", azcertificates.UpdateIssuerParameters{Attributes: &azcertificates.IssuerAttributes{Enabled: to.Ptr(false)}}, nil)
		if err != nil || *up.Attributes.Enabled || *up.OrganizationDetails.ID != "platform" {
			t.Fatalf("UpdateIssuer (disable) kept other members? %+v, %v", up.Issuer, err)
		}
		_, err = certs.CreateCertificate(ctx, "while-disabled", azcertificates.CreateCertificateParameters{CertificatePolicy: leafPolicy("CN=x", "root-ca", ekuServerAuth)}, nil)
		if msg := respErr(t, err, http.StatusBadRequest, "BadParameter"); !strings.Contains(msg, "disabled") {
			t.Fatalf("disabled issuer: %q", msg)
		}
		if _, err := certs.UpdateIssuer(ctx, "root-ca", azcertificates.UpdateIssuerParameters{Attributes: &azcertificates.IssuerAttributes{Enabled: to.Ptr(true)}}, nil); err != nil {
			t.Fatal(err)
		}
		_, err = certs.UpdateIssuer(ctx, "absent", azcertificates.UpdateIssuerParameters{Provider: to.Ptr("Portcullis")}, nil)
		respErr(t, err, http.StatusNotFound, "NotFound")
	})

	create(t, "issuing-ca", caPolicy("CN=Test Issuing CA,O=Portcullis Tests", "root-ca"))
	if _, err := setPortcullis("issuing-ca"); err != nil {
		t.Fatalf("SetIssuer(issuing-ca): %v", err)
	}
	srvOp := create(t, "api-server", leafPolicy("CN=api.localhost", "issuing-ca", ekuServerAuth, "localhost", "api.localhost"))
	if *srvOp.IssuerParameters.Name != "issuing-ca" {
		t.Fatalf("operation issuer %q", *srvOp.IssuerParameters.Name)
	}
	create(t, "orders-client", leafPolicy("CN=orders-client", "issuing-ca", ekuClientAuth))

	t.Run("list issuers", func(t *testing.T) {
		var names []string
		for p := certs.NewListIssuerPropertiesPager(nil); p.More(); {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatalf("NewListIssuerPropertiesPager: %v", err)
			}
			for _, is := range page.Value {
				names = append(names, (*is.ID)[strings.LastIndex(*is.ID, "/")+1:]+"="+*is.Provider)
			}
		}
		if !slices.Equal(names, []string{"issuing-ca=Portcullis", "root-ca=Portcullis"}) {
			t.Fatalf("issuers %v", names)
		}
	})

	rootPEM := pemCert(t, getCER(t, certs, "root-ca"))
	serverPEM := secretPEM(t, secrets, "api-server")
	clientPEM := secretPEM(t, secrets, "orders-client")

	t.Run("the chain comes with the certificate and OpenSSL verifies it", func(t *testing.T) {
		chain := pemBlocks(serverPEM, "CERTIFICATE")
		if len(chain) != 3 {
			t.Fatalf("secret holds %d certificates, want leaf, issuing CA and root", len(chain))
		}
		leaf, _ := x509.ParseCertificate(chain[0])
		inter, _ := x509.ParseCertificate(chain[1])
		root, _ := x509.ParseCertificate(chain[2])
		if leaf.Issuer.CommonName != "Test Issuing CA" || inter.Issuer.CommonName != "Test Root CA" || !root.IsCA || !inter.IsCA || leaf.IsCA {
			t.Fatalf("chain: %s <- %s <- %s", leaf.Subject, inter.Subject, root.Subject)
		}
		if !slices.Equal(leaf.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) || !slices.Equal(leaf.DNSNames, []string{"localhost", "api.localhost"}) {
			t.Fatalf("leaf EKUs %v, SANs %v", leaf.ExtKeyUsage, leaf.DNSNames)
		}
		if leaf.NotAfter.After(inter.NotAfter) {
			t.Fatalf("leaf outlives its CA: %v > %v", leaf.NotAfter, inter.NotAfter)
		}
		openssl, err := exec.LookPath("openssl")
		if err != nil {
			t.Skip("openssl is not on PATH; the chain is not checked with openssl verify")
		}
		dir := t.TempDir()
		write := func(name string, ders ...[]byte) string {
			var b []byte
			for _, d := range ders {
				b = append(b, pemCert(t, d)...)
			}
			p := filepath.Join(dir, name)
			if err := os.WriteFile(p, b, 0o600); err != nil {
				t.Fatal(err)
			}
			return p
		}
		rootFile := filepath.Join(dir, "root.pem")
		if err := os.WriteFile(rootFile, rootPEM, 0o600); err != nil {
			t.Fatal(err)
		}
		for _, purpose := range []string{"sslserver"} {
			out, err := exec.Command(openssl, "verify", "-purpose", purpose, "-CAfile", rootFile, "-untrusted", write("inter.pem", chain[1]), write("leaf.pem", chain[0])).CombinedOutput()
			if err != nil || !strings.Contains(string(out), ": OK") {
				t.Fatalf("openssl verify: %v\n%s", err, out)
			}
		}
		clientChain := pemBlocks(clientPEM, "CERTIFICATE")
		out, err := exec.Command(openssl, "verify", "-purpose", "sslclient", "-CAfile", rootFile, "-untrusted", write("inter2.pem", clientChain[1]), write("client.pem", clientChain[0])).CombinedOutput()
		if err != nil || !strings.Contains(string(out), ": OK") {
			t.Fatalf("openssl verify (client): %v\n%s", err, out)
		}
		out, _ = exec.Command(openssl, "verify", "-purpose", "sslserver", "-CAfile", rootFile, "-untrusted", write("inter3.pem", clientChain[1]), write("client2.pem", clientChain[0])).CombinedOutput()
		if strings.Contains(string(out), ": OK") {
			t.Fatalf("a clientAuth-only certificate verified as a server:\n%s", out)
		}
	})

	t.Run("mutual TLS between a server and a client both issued by the vault CA", func(t *testing.T) {
		mutualTLS(t, rootPEM, serverPEM, clientPEM)
	})

	t.Run("delete issuer", func(t *testing.T) {
		del, err := certs.DeleteIssuer(ctx, "issuing-ca", nil)
		if err != nil || *del.Provider != "Portcullis" {
			t.Fatalf("DeleteIssuer: %+v, %v", del.Issuer, err)
		}
		_, err = certs.GetIssuer(ctx, "issuing-ca", nil)
		respErr(t, err, http.StatusNotFound, "NotFound")
		_, err = certs.CreateCertificate(ctx, "api-server", azcertificates.CreateCertificateParameters{}, nil)
		if msg := respErr(t, err, http.StatusBadRequest, "BadParameter"); !strings.Contains(msg, "issuing-ca") {
			t.Fatalf("renewal without its issuer: %q", msg)
		}
	})
}

func getCER(t *testing.T, certs *azcertificates.Client, name string) []byte {
	t.Helper()
	c, err := certs.GetCertificate(context.Background(), name, "", nil)
	if err != nil {
		t.Fatalf("GetCertificate(%s): %v", name, err)
	}
	return c.CER
}

func pemCert(t *testing.T, der []byte) []byte {
	t.Helper()
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func secretPEM(t *testing.T, secrets *azsecrets.Client, name string) []byte {
	t.Helper()
	s, err := secrets.GetSecret(context.Background(), name, "", nil)
	if err != nil {
		t.Fatalf("GetSecret(%s): %v", name, err)
	}
	return []byte(*s.Value)
}

func pemBlocks(b []byte, typ string) [][]byte {
	var out [][]byte
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return out
		}
		if blk.Type == typ {
			out = append(out, blk.Bytes)
		}
	}
}

// mutualTLS runs one handshake on loopback: the server presents serverPEM
// and requires a client certificate chaining to rootPEM; the client trusts
// rootPEM and presents clientPEM. Both sides must verify.
func mutualTLS(t *testing.T, rootPEM, serverPEM, clientPEM []byte) {
	t.Helper()
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(rootPEM) {
		t.Fatal("root CA PEM does not parse")
	}
	serverCert, err := tls.X509KeyPair(serverPEM, serverPEM)
	if err != nil {
		t.Fatalf("server key pair: %v", err)
	}
	clientCert, err := tls.X509KeyPair(clientPEM, clientPEM)
	if err != nil {
		t.Fatalf("client key pair: %v", err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{serverCert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: roots, MinVersion: tls.VersionTLS12,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		peer string
		err  error
	}
	done := make(chan result, 2)
	go func() {
		for range 2 {
			c, err := ln.Accept()
			if err != nil {
				done <- result{err: err}
				return
			}
			tc := c.(*tls.Conn)
			if err := tc.Handshake(); err != nil {
				c.Close()
				done <- result{err: err}
				continue
			}
			_, _ = tc.Write([]byte("ok"))
			done <- result{peer: tc.ConnectionState().PeerCertificates[0].Subject.CommonName}
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	conn, err := tls.Dial("tcp", net.JoinHostPort("127.0.0.1", port), &tls.Config{
		RootCAs: roots, Certificates: []tls.Certificate{clientCert}, ServerName: "api.localhost", MinVersion: tls.VersionTLS12,
	})
	if err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	buf := make([]byte, 2)
	if _, err := conn.Read(buf); err != nil || string(buf) != "ok" {
		t.Fatalf("read after handshake: %q, %v", buf, err)
	}
	if got := conn.ConnectionState().PeerCertificates[0].Subject.CommonName; got != "api.localhost" {
		t.Fatalf("server certificate CN %q", got)
	}
	conn.Close()
	r := <-done
	if r.err != nil {
		t.Fatalf("server handshake: %v", r.err)
	}
	if r.peer != "orders-client" {
		t.Fatalf("server saw client %q", r.peer)
	}

	// The control: a client with no certificate is refused by the server.
	bare, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: roots, ServerName: "api.localhost", MinVersion: tls.VersionTLS13})
	if err == nil {
		_, err = bare.Read(buf)
		bare.Close()
	}
	if err == nil {
		t.Fatal("a client without a certificate completed the exchange")
	}
	if r := <-done; r.err == nil || !strings.Contains(r.err.Error(), "certificate") {
		t.Fatalf("server accepted a client without a certificate: %+v", r)
	}
}
