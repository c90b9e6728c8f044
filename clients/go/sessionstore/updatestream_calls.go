package sessionstore

import (
	"context"

	"google.golang.org/grpc"

	sessionstorev1 "github.com/sessionstore/sessionstore/clients/go/gen/sessionstore/v1"
)

// updateCall is one open stream of either update RPC, as the stream goroutine uses it.
type updateCall interface {
	// send writes the updates queued on sendq until it is closed (then
	// half-closes the stream) or the stream breaks (Recv reports why).
	send(sendq <-chan *sessionstorev1.SessionUpdate)
	// recv returns the acks of the next response.
	recv() ([]*sessionstorev1.UpdateAck, error)
}

// openCall starts a StreamUpdateBatches stream, or with batching nil a StreamUpdates one.
func openCall(ctx context.Context, client sessionstorev1.SessionStoreServiceClient, batching *Batching) (updateCall, error) {
	if batching == nil {
		stream, err := client.StreamUpdates(ctx)
		return singleCall{stream}, err
	}
	stream, err := client.StreamUpdateBatches(ctx)
	return batchCall{stream, *batching}, err
}

// singleCall is StreamUpdates: an update, and an ack, to a message.
type singleCall struct {
	stream grpc.BidiStreamingClient[sessionstorev1.SessionUpdate, sessionstorev1.UpdateAck]
}

func (c singleCall) send(sendq <-chan *sessionstorev1.SessionUpdate) {
	for u := range sendq {
		if c.stream.Send(u) != nil {
			return
		}
	}
	_ = c.stream.CloseSend()
}

func (c singleCall) recv() ([]*sessionstorev1.UpdateAck, error) {
	ack, err := c.stream.Recv()
	if err != nil {
		return nil, err
	}
	return []*sessionstorev1.UpdateAck{ack}, nil
}

// batchCall is StreamUpdateBatches: the updates Batching gathers to a message,
// and the acks that became durable together to a response.
type batchCall struct {
	stream   grpc.BidiStreamingClient[sessionstorev1.StreamUpdateBatchesRequest, sessionstorev1.StreamUpdateBatchesResponse]
	batching Batching
}

// send builds each message from the kept *SessionUpdate values: proto marshals
// them in one pass without copying them first, so keeping each update's bytes
// instead (which would need a codec of our own) would save little.
func (c batchCall) send(sendq <-chan *sessionstorev1.SessionUpdate) {
	var next *sessionstorev1.SessionUpdate // taken from sendq, not yet sent
	for {
		first := next
		if first == nil {
			u, ok := <-sendq
			if !ok {
				_ = c.stream.CloseSend()
				return
			}
			first = u
		}
		batch, following, open := c.batching.gather(first, sendq)
		if c.stream.Send(&sessionstorev1.StreamUpdateBatchesRequest{Updates: batch}) != nil {
			return
		}
		if !open {
			_ = c.stream.CloseSend()
			return
		}
		next = following
	}
}

func (c batchCall) recv() ([]*sessionstorev1.UpdateAck, error) {
	resp, err := c.stream.Recv()
	return resp.GetAcks(), err
}
