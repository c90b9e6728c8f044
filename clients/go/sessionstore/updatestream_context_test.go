package sessionstore_test

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	pb "github.com/sessionstore/sessionstore/clients/go/gen/sessionstore/v1"
	"github.com/sessionstore/sessionstore/clients/go/sessionstore"
)

// The context given to NewUpdateStream bounds its goroutine: when it ends, what
// is unacknowledged fails, later writes are refused, and nothing is left running.
func TestAnUpdateStreamEndsWithItsContext(t *testing.T) {
	t.Parallel()
	sidecar := ownSidecar(t)
	client := connect(t, sidecar)
	id := newID(t)
	session := create(t, client, &pb.Session{ConversationId: id})
	streamCtx, cancel := context.WithCancel(t.Context())
	stream := sessionstore.NewUpdateStream(streamCtx, client, sessionstore.UpdateStreamOptions{})
	stream.Track(session)
	if ack := writeAndWait(t, stream, id, item("before")); !ack.GetApplied() {
		t.Fatal("first write not applied")
	}

	// With the sidecar away, a write waits for its ack until the context ends.
	if _, err := sidecar.Stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	p, err := stream.Write(ctx, id, item("never acked"))
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	waitCtx, stop := context.WithTimeout(ctx, 10*time.Second)
	defer stop()
	_, err = p.Wait(waitCtx)
	var failed *sessionstore.StreamFailedError
	if !errors.As(err, &failed) || failed.Status.Code() != codes.Canceled {
		t.Fatalf("want the unacknowledged write failed as Canceled, got %v", err)
	}
	if _, err := stream.Write(ctx, id, item("after")); !errors.Is(err, sessionstore.ErrStreamClosed) || !errors.Is(err, context.Canceled) {
		t.Fatalf("want ErrStreamClosed wrapping context.Canceled, got %v", err)
	}
	if err := stream.Close(waitCtx); err != nil {
		t.Fatalf("Close after the context ended: %v", err)
	}

	if err := sidecar.Start(); err != nil {
		t.Fatal(err)
	}
	if h := get(t, client, id).GetConversationHistory(); len(h) != 1 || h[0].GetItemId() != "before" {
		t.Fatalf("history %v", h)
	}
}
