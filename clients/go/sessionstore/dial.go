package sessionstore

import (
	"context"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"

	sessionstorev1 "github.com/sessionstore/sessionstore/clients/go/gen/sessionstore/v1"
)

// Dial opens a plaintext connection to a sidecar (it listens on loopback or a
// unix socket: "unix:/path") and returns its client. A non-empty token is sent
// as "authorization: Bearer <token>". Extra options are applied last.
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

type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

// RequireTransportSecurity is false: the sidecar is reached over loopback or a unix socket.
func (bearer) RequireTransportSecurity() bool { return false }
