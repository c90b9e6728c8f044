package sessionstore

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	sessionstorev1 "github.com/sessionstore/sessionstore/clients/go/gen/sessionstore/v1"
)

// Dial opens a connection to a sidecar and returns its client: plaintext, as a
// sidecar on loopback or a unix socket ("unix:/path") is reached, unless an
// extra option such as WithTLS says otherwise. A non-empty token is sent as
// "authorization: Bearer <token>". Extra options are applied last.
func Dial(address, token string, extra ...grpc.DialOption) (sessionstorev1.SessionStoreServiceClient, *grpc.ClientConn, error) {
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		// FULL sessions with long histories and audio exceed gRPC's 4 MiB default.
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64 << 20)),
		// gRPC waits up to 2 minutes between reconnects by default, failing calls
		// at once meanwhile; a sidecar on loopback that restarts is back within a second.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
			MinConnectTimeout: 5 * time.Second,
		}),
	}
	if token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearer(token)))
	}
	conn, err := grpc.NewClient(address, append(opts, extra...)...)
	if err != nil {
		return nil, nil, err
	}
	return sessionstorev1.NewSessionStoreServiceClient(conn), conn, nil
}

// TLS says how to reach a sidecar's --tls-listen address.
type TLS struct {
	// CA is PEM CA certificates the sidecar's certificate must chain to; the
	// system roots when empty.
	CA []byte
	// Cert and Key are a PEM client certificate (chain) and its private key,
	// for a sidecar that requires client certificates (--tls-client-ca).
	Cert, Key []byte
}

// WithTLS is a Dial option for TLS (and with a client certificate, mTLS).
func WithTLS(t TLS) (grpc.DialOption, error) {
	config := &tls.Config{MinVersion: tls.VersionTLS12}
	if len(t.CA) > 0 {
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(t.CA) {
			return nil, errors.New("sessionstore: TLS.CA holds no PEM certificate")
		}
		config.RootCAs = roots
	}
	if (len(t.Cert) > 0) != (len(t.Key) > 0) {
		return nil, errors.New("sessionstore: TLS.Cert and TLS.Key go together: a client certificate needs its key")
	}
	if len(t.Cert) > 0 {
		pair, err := tls.X509KeyPair(t.Cert, t.Key)
		if err != nil {
			// The parse error names no key material.
			return nil, fmt.Errorf("sessionstore: TLS client certificate: %w", err)
		}
		config.Certificates = []tls.Certificate{pair}
	}
	return grpc.WithTransportCredentials(credentials.NewTLS(config)), nil
}

type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

// RequireTransportSecurity is false: the sidecar's loopback or unix socket listener is plaintext.
func (bearer) RequireTransportSecurity() bool { return false }
