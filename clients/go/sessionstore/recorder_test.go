package sessionstore_test

import (
	"context"
	"sync"
	"testing"

	"google.golang.org/grpc"

	pb "github.com/sessionstore/sessionstore/clients/go/gen/sessionstore/v1"
	"github.com/sessionstore/sessionstore/clients/go/internal/sidecartest"
	"github.com/sessionstore/sessionstore/clients/go/sessionstore"
)

// What a client sends on its streams, seen from the client's side of the connection.

const (
	streamUpdates       = "/sessionstore.v1.SessionStoreService/StreamUpdates"
	streamUpdateBatches = "/sessionstore.v1.SessionStoreService/StreamUpdateBatches"
)

// callRecorder records every stream a client opens with the messages it sends.
// A method in rename is called under its new name instead, so that the real
// sidecar answers it as an older one without that method would: Unimplemented.
type callRecorder struct {
	rename map[string]string
	mu     sync.Mutex
	calls  []*recordedCall
}

type recordedCall struct {
	method string // as the client asked for it, before any renaming
	sent   []any
}

// connectRecorded returns a client of the sidecar whose streams the returned recorder records.
func connectRecorded(t *testing.T, s *sidecartest.Sidecar, rename map[string]string) (pb.SessionStoreServiceClient, *callRecorder) {
	t.Helper()
	r := &callRecorder{rename: rename}
	return connect(t, s, sessionstore.WithDialOptions(grpc.WithStreamInterceptor(r.intercept))), r
}

func (r *callRecorder) intercept(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	call := &recordedCall{method: method}
	r.mu.Lock()
	r.calls = append(r.calls, call)
	r.mu.Unlock()
	if renamed, ok := r.rename[method]; ok {
		method = renamed
	}
	stream, err := streamer(ctx, desc, cc, method, opts...)
	if err != nil {
		return nil, err
	}
	return &recordingStream{stream, r, call}, nil
}

// methods are the methods of the streams opened so far, in order.
func (r *callRecorder) methods() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var methods []string
	for _, c := range r.calls {
		methods = append(methods, c.method)
	}
	return methods
}

// requests are the messages that the index-th stream sent.
func (r *callRecorder) requests(index int) []any {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]any(nil), r.calls[index].sent...)
}

// updates are the updates that the index-th stream sent, in order, whatever the RPC.
func (r *callRecorder) updates(index int) []*pb.SessionUpdate {
	var updates []*pb.SessionUpdate
	for _, m := range r.requests(index) {
		switch m := m.(type) {
		case *pb.StreamUpdateBatchesRequest:
			updates = append(updates, m.GetUpdates()...)
		case *pb.SessionUpdate:
			updates = append(updates, m)
		}
	}
	return updates
}

type recordingStream struct {
	grpc.ClientStream
	recorder *callRecorder
	call     *recordedCall
}

func (s *recordingStream) SendMsg(m any) error {
	s.recorder.mu.Lock()
	s.call.sent = append(s.call.sent, m)
	s.recorder.mu.Unlock()
	return s.ClientStream.SendMsg(m)
}
