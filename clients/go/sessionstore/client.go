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

// Client is a sidecar's SessionStoreService: the generated stub, embedded, so
// its RPCs are Client's methods, over a connection of its own. Like the
// grpc.ClientConn under it, a Client connects lazily, on its first call, and
// reconnects by itself; it is safe for concurrent use. Close it when done.
type Client struct {
	sessionstorev1.SessionStoreServiceClient
	conn *grpc.ClientConn
}

// Option configures NewClient.
type Option func(*clientOptions) error

type clientOptions struct {
	dial []grpc.DialOption
	// creds replaces plaintext (WithTLS); the last one given wins.
	creds credentials.TransportCredentials
}

// NewClient returns a client of the sidecar at target ("127.0.0.1:50051",
// "unix:/path", or any gRPC target). It does not connect yet: the first call
// does, so a sidecar that starts later than the bridge is no error here.
// Plaintext unless WithTLS says otherwise, as a sidecar on loopback or a unix
// socket is reached.
func NewClient(target string, opts ...Option) (*Client, error) {
	o := clientOptions{}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	creds := o.creds
	if creds == nil {
		creds = insecure.NewCredentials()
	}
	dial := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		// FULL sessions with long histories and audio exceed gRPC's 4 MiB default.
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64 << 20)),
		// gRPC waits up to 2 minutes between reconnects by default, failing calls
		// at once meanwhile; a sidecar on loopback that restarts is back within a second.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
			MinConnectTimeout: 5 * time.Second,
		}),
	}
	conn, err := grpc.NewClient(target, append(dial, o.dial...)...)
	if err != nil {
		return nil, fmt.Errorf("sessionstore: %w", err)
	}
	return &Client{SessionStoreServiceClient: sessionstorev1.NewSessionStoreServiceClient(conn), conn: conn}, nil
}

// Close closes the connection; calls and streams still open on it fail with Canceled.
func (c *Client) Close() error { return c.conn.Close() }

// Conn is the connection, for what the stub does not cover (health checks,
// reflection, another service on the same sidecar).
func (c *Client) Conn() *grpc.ClientConn { return c.conn }

// WithToken sends "authorization: Bearer <token>" with every call, for a
// sidecar started with --auth-tokens.
func WithToken(token string) Option {
	return func(o *clientOptions) error {
		if token == "" {
			return errors.New("sessionstore: WithToken needs a token")
		}
		o.dial = append(o.dial, grpc.WithPerRPCCredentials(bearer(token)))
		return nil
	}
}

// WithDialOptions adds gRPC dial options (interceptors, a custom dialer, …),
// applied after the client's own, so they win where they overlap.
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(o *clientOptions) error {
		o.dial = append(o.dial, opts...)
		return nil
	}
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

// WithTLS connects over TLS (and with a client certificate, mTLS). Settings
// that do not parse make NewClient fail.
func WithTLS(t TLS) Option {
	return func(o *clientOptions) error {
		config, err := t.config()
		if err != nil {
			return err
		}
		o.creds = credentials.NewTLS(config)
		return nil
	}
}

func (t TLS) config() (*tls.Config, error) {
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
	return config, nil
}

type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

// RequireTransportSecurity is false: the sidecar's loopback or unix socket listener is plaintext.
func (bearer) RequireTransportSecurity() bool { return false }
