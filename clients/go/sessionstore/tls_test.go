package sessionstore_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	sessionstorev1 "github.com/sessionstore/sessionstore/clients/go/gen/sessionstore/v1"
	"github.com/sessionstore/sessionstore/clients/go/internal/sidecartest"
	"github.com/sessionstore/sessionstore/clients/go/internal/testpki"
	"github.com/sessionstore/sessionstore/clients/go/sessionstore"
)

// tlsSidecar serves plaintext on --listen and TLS on --tls-listen with a certificate of ca.
func tlsSidecar(t *testing.T, ca *testpki.CA, extra ...string) *sidecartest.Sidecar {
	t.Helper()
	server := ca.Server(t)
	s, err := sidecartest.Start(append([]string{"--storage", "memory", "--tls-listen", "127.0.0.1:0", "--tls-cert", server.CertFile, "--tls-key", server.KeyFile}, extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = s.Stop(syscall.SIGTERM) })
	if s.TLSAddress == "" || s.TLSAddress == s.Address {
		t.Fatalf("TLS address %q beside %q", s.TLSAddress, s.Address)
	}
	return s
}

// dialTLS connects with these TLS settings; the connection is closed when the test ends.
func dialTLS(t *testing.T, address string, settings sessionstore.TLS) sessionstorev1.SessionStoreServiceClient {
	t.Helper()
	client, err := sessionstore.NewClient(address, sessionstore.WithTLS(settings))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	return client
}

func getStats(client sessionstorev1.SessionStoreServiceClient) (*sessionstorev1.GetStatsResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return client.GetStats(ctx, &sessionstorev1.GetStatsRequest{})
}

func expectRefused(t *testing.T, client sessionstorev1.SessionStoreServiceClient) {
	t.Helper()
	if _, err := getStats(client); status.Code(err) != codes.Unavailable {
		t.Fatalf("want UNAVAILABLE from a failed handshake, got %v", err)
	}
}

func TestTLSHandshakeWithTheCAAndTheSameSessionsOnThePlaintextListener(t *testing.T) {
	ca := testpki.NewCA(t, "sessionstore test CA")
	s := tlsSidecar(t, ca)
	caPEM, _ := ca.PEM(t)
	overTLS := dialTLS(t, s.TLSAddress, sessionstore.TLS{CA: caPEM})
	id := newID(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := overTLS.CreateSession(ctx, &sessionstorev1.CreateSessionRequest{Session: &sessionstorev1.Session{ConversationId: id, Caller: "+15550100"}}); err != nil {
		t.Fatal(err)
	}
	got, err := connect(t, s).GetSession(ctx, &sessionstorev1.GetSessionRequest{ConversationId: id})
	if err != nil || got.GetSession().GetCaller() != "+15550100" {
		t.Fatalf("plaintext listener read %v, %v", got, err)
	}

	// Plaintext, or a CA that did not sign the sidecar's certificate, gets no handshake.
	expectRefused(t, connect(t, &sidecartest.Sidecar{Address: s.TLSAddress}))
	otherPEM, _ := testpki.NewCA(t, "another CA").PEM(t)
	expectRefused(t, dialTLS(t, s.TLSAddress, sessionstore.TLS{CA: otherPEM}))
}

func TestMTLSNeedsAClientCertificateFromTheClientCA(t *testing.T) {
	serverCA := testpki.NewCA(t, "server CA")
	clientCA := testpki.NewCA(t, "client CA")
	s := tlsSidecar(t, serverCA, "--tls-client-ca", clientCA.CertFile)
	caPEM, _ := serverCA.PEM(t)

	expectRefused(t, dialTLS(t, s.TLSAddress, sessionstore.TLS{CA: caPEM}))
	// A certificate the server's CA signed is still not one the client CA signed.
	wrongCert, wrongKey := serverCA.Client(t, "intruder").PEM(t)
	expectRefused(t, dialTLS(t, s.TLSAddress, sessionstore.TLS{CA: caPEM, Cert: wrongCert, Key: wrongKey}))
	rightCert, rightKey := clientCA.Client(t, "voice-bridge").PEM(t)
	if _, err := getStats(dialTLS(t, s.TLSAddress, sessionstore.TLS{CA: caPEM, Cert: rightCert, Key: rightKey})); err != nil {
		t.Fatalf("a client certificate of the client CA must be let in: %v", err)
	}
	if _, err := sessionstore.NewClient(s.TLSAddress, sessionstore.WithTLS(sessionstore.TLS{CA: caPEM, Cert: rightCert})); err == nil {
		t.Fatal("a client certificate without its key must be refused")
	}
}
