package main

import (
	"context"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	pb "github.com/sessionstore/sessionstore/clients/go/gen/sessionstore/v1"
	"github.com/sessionstore/sessionstore/clients/go/sessionstore"
)

// bridgeSink writes through this module's UpdateStream, as a Go bridge does,
// on a connection of its own.
type bridgeSink struct {
	client  *sessionstore.Client
	stream  *sessionstore.UpdateStream
	queue   *queue
	rec     *recorder
	sent    chan struct{} // closed once the sender has written (or failed) every queued write
	waiting sync.WaitGroup
}

// maxUnacked is what call-load.ts gives BridgeUpdateStream: room for seconds of a stream's writes.
const maxUnacked = 20_000

func newBridgeSink(ctx context.Context, address string, calls []Session, rec *recorder) (*bridgeSink, error) {
	client, err := sessionstore.NewClient(address)
	if err != nil {
		return nil, err
	}
	stream := sessionstore.NewUpdateStream(context.Background(), client, sessionstore.UpdateStreamOptions{MaxUnacked: maxUnacked})
	for _, call := range calls {
		stream.Track(&pb.Session{ConversationId: call.ID, OwnerEpoch: call.OwnerEpoch, LastSeq: call.LastSeq})
	}
	s := &bridgeSink{client: client, stream: stream, queue: newQueue(), rec: rec, sent: make(chan struct{})}
	go s.send(ctx)
	return s, nil
}

func (s *bridgeSink) enqueue(w write) { s.queue.push(w) }

// send hands the queued writes to the UpdateStream in order (Write waits while
// maxUnacked are unacknowledged, until ctx ends), and waits for each ack apart.
func (s *bridgeSink) send(ctx context.Context) {
	defer close(s.sent)
	for {
		items, open := s.queue.take()
		if !open {
			return
		}
		for _, w := range items {
			pending, err := s.stream.Write(ctx, w.id, w.update)
			if err != nil {
				s.rec.fail(err)
				continue
			}
			s.waiting.Add(1)
			go func() {
				defer s.waiting.Done()
				if _, err := pending.Wait(context.Background()); err != nil {
					s.rec.fail(err)
				} else {
					s.rec.acked(w.sentAt)
				}
			}()
		}
	}
}

func (s *bridgeSink) close(ctx context.Context) {
	s.queue.close()
	<-s.sent // ctx ending makes the sender's last Writes fail
	_ = s.stream.Close(ctx)
	s.waiting.Wait() // Close failed every write still unacknowledged
	_ = s.client.Close()
}

func (s *bridgeSink) stats() (int, int) {
	st := s.stream.Stats()
	return st.Acked, st.Overloaded
}

// The batching of UpdateStream's defaults (sessionstore.Batching): the first
// update of a message waits up to 2 ms for others, at most 500 updates or 1 MiB a message.
const (
	linger        = 2 * time.Millisecond
	maxBatch      = 500
	maxBatchBytes = 1 << 20
)

// rawSink sends the same updates, batched the same way, as bare
// StreamUpdateBatches messages with no seqs, acks or replay to keep: the
// transport ceiling answers each message with an empty one, and a write is
// answered when its message is.
type rawSink struct {
	conn     *grpc.ClientConn
	call     grpc.BidiStreamingClient[pb.StreamUpdateBatchesRequest, pb.StreamUpdateBatchesResponse]
	queue    *queue
	rec      *recorder
	received chan struct{} // closed when the ceiling has ended the call

	mu      sync.Mutex
	batches [][]write // sent and not yet answered, oldest first
	acked   int
}

func newRawSink(address string, rec *recorder) (*rawSink, error) {
	conn, err := grpc.NewClient(address, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	call, err := pb.NewSessionStoreServiceClient(conn).StreamUpdateBatches(context.Background())
	if err != nil {
		return nil, err
	}
	s := &rawSink{conn: conn, call: call, queue: newQueue(), rec: rec, received: make(chan struct{})}
	go s.send()
	go s.receive()
	return s, nil
}

func (s *rawSink) enqueue(w write) { s.queue.push(w) }

func (s *rawSink) send() {
	for {
		items, open := s.queue.take()
		if !open {
			_ = s.call.CloseSend()
			return
		}
		if len(items) < maxBatch {
			time.Sleep(linger)
			items = append(items, s.queue.takeNow()...)
		}
		for len(items) > 0 {
			batch, size := 0, 0
			message := &pb.StreamUpdateBatchesRequest{}
			for batch < min(len(items), maxBatch) && (batch == 0 || size < maxBatchBytes) {
				// Each write's update is its own (run makes one per write): no copy is needed.
				update := items[batch].update
				update.ConversationId = items[batch].id
				message.Updates = append(message.Updates, update)
				size += proto.Size(update)
				batch++
			}
			s.mu.Lock()
			s.batches = append(s.batches, items[:batch])
			s.mu.Unlock()
			if err := s.call.Send(message); err != nil {
				return // receive sees the call's status
			}
			items = items[batch:]
		}
	}
}

func (s *rawSink) receive() {
	defer close(s.received)
	for {
		if _, err := s.call.Recv(); err != nil {
			return
		}
		s.mu.Lock()
		var answered []write
		if len(s.batches) > 0 {
			answered, s.batches = s.batches[0], s.batches[1:]
			s.acked += len(answered)
		}
		s.mu.Unlock()
		for _, w := range answered {
			s.rec.acked(w.sentAt)
		}
	}
}

func (s *rawSink) close(ctx context.Context) {
	s.queue.close()
	select {
	case <-s.received:
	case <-ctx.Done():
	}
	_ = s.conn.Close()
	<-s.received
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, batch := range s.batches {
		for range batch {
			s.rec.fail(errUnanswered)
		}
	}
	s.batches = nil
}

func (s *rawSink) stats() (int, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.acked, 0
}
