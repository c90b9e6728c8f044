package sessionstore_test

import (
	"fmt"
	"slices"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	pb "github.com/sessionstore/sessionstore/clients/go/gen/sessionstore/v1"
	"github.com/sessionstore/sessionstore/clients/go/sessionstore"
)

// UpdateStream's batching against the real sidecar: StreamUpdateBatches messages
// within the Batching limits, StreamUpdates when batching is off or the sidecar lacks it.

// sentOrder names each update by session and seq.
func sentOrder(updates []*pb.SessionUpdate) []string {
	var order []string
	for _, u := range updates {
		order = append(order, fmt.Sprintf("%s/%d", u.GetConversationId(), u.GetSeq()))
	}
	return order
}

func TestInterleavedSessionsShareOneStream(t *testing.T) {
	const sessions, rounds = 40, 25
	for _, tc := range []struct {
		name     string
		batching sessionstore.Batching
		// largest is the most updates a message may carry, and must carry at least once.
		largest int
	}{
		{"defaults", sessionstore.Batching{}, 0},
		{"no-linger", sessionstore.Batching{Linger: -1}, 0},
		{"max-updates-7", sessionstore.Batching{MaxUpdates: 7}, 7},
		{"max-bytes-4000", sessionstore.Batching{MaxBytes: 4000}, 2}, // a round is about 1.7 kB
		{"off", sessionstore.Batching{Disabled: true}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, recorder := connectRecorded(t, shared, nil)
			stream := sessionstore.NewUpdateStream(t.Context(), client, sessionstore.UpdateStreamOptions{Batching: tc.batching})
			defer stream.Close(ctx)
			var ids, written []string
			for range sessions {
				ids = append(ids, newID(t))
				stream.Track(create(t, client, &pb.Session{ConversationId: ids[len(ids)-1]}))
			}
			pending := map[string][]*sessionstore.Pending{}
			for n := 1; n <= rounds; n++ {
				for _, id := range ids {
					pending[id] = append(pending[id], writeRounds(t, stream, id, n, n)...)
					written = append(written, fmt.Sprintf("%s/%d", id, n))
				}
			}
			flush(t, stream, 30*time.Second)

			for _, id := range ids {
				acks := waitAppliedInOrder(t, id, pending[id])
				if s := expectExactly(t, client, id, rounds); s.GetEtag() != acks[rounds-1].GetEtag() {
					t.Fatal("the last ack's etag is not the session's")
				}
			}
			if st := stream.Stats(); st.Acked != sessions*rounds || st.Duplicates != 0 || st.Reconnects != 0 {
				t.Fatalf("stats %+v", st)
			}

			want := streamUpdateBatches
			if tc.batching.Disabled {
				want = streamUpdates
			}
			if methods := recorder.methods(); !slices.Equal(methods, []string{want}) {
				t.Fatalf("streams %v, want one %s", methods, want)
			}
			if !slices.Equal(sentOrder(recorder.updates(0)), written) {
				t.Fatal("the updates were not sent once each in write order")
			}
			requests := recorder.requests(0)
			largest := 0
			for _, m := range requests {
				count, size := 1, 0
				if batch, ok := m.(*pb.StreamUpdateBatchesRequest); ok {
					count = len(batch.GetUpdates())
					for _, u := range batch.GetUpdates() {
						size += proto.Size(u)
					}
				}
				largest = max(largest, count)
				if tc.batching.MaxBytes > 0 && size > tc.batching.MaxBytes && count > 1 {
					t.Fatalf("a message of %d updates carries %d bytes, above MaxBytes", count, size)
				}
			}
			switch {
			case tc.largest > 0 && largest != tc.largest:
				t.Fatalf("the largest message carries %d updates, want %d", largest, tc.largest)
			case largest > 500:
				t.Fatalf("a message carries %d updates, above the default 500", largest)
			case tc.name == "defaults" && len(requests) > len(written)/4:
				// Writes from a loop come faster than 2 ms apart: they share messages. Not
				// tighter: on a loaded machine the writing goroutine is set aside for
				// longer than the linger now and then, and each time a message is sent.
				t.Fatalf("%d updates took %d messages", len(written), len(requests))
			}
		})
	}
}

func TestASidecarWithoutBatchesGetsTheSameUpdatesOnStreamUpdates(t *testing.T) {
	t.Parallel()
	sidecar := ownSidecar(t)
	// Renamed, the batch call reaches the real sidecar as a method it does not
	// have, as StreamUpdateBatches would reach an older sidecar: Unimplemented.
	client, recorder := connectRecorded(t, sidecar, map[string]string{streamUpdateBatches: streamUpdateBatches + "Missing"})
	stream := sessionstore.NewUpdateStream(t.Context(), client, sessionstore.UpdateStreamOptions{})
	defer stream.Close(ctx)
	ids := []string{"old-0", "old-1", "old-2"}
	for _, id := range ids {
		stream.Track(create(t, client, &pb.Session{ConversationId: id}))
	}
	writeAll := func(from, to int) []*sessionstore.Pending {
		var ps []*sessionstore.Pending
		for n := from; n <= to; n++ {
			for _, id := range ids {
				ps = append(ps, writeRounds(t, stream, id, n, n)...)
			}
		}
		flush(t, stream, 30*time.Second)
		for _, a := range waitAll(t, ps) {
			if !a.GetApplied() {
				t.Fatalf("not applied: %v", a)
			}
		}
		return ps
	}
	writeAll(1, 20)
	if methods := recorder.methods(); !slices.Equal(methods, []string{streamUpdateBatches, streamUpdates}) {
		t.Fatalf("streams %v", methods)
	}
	if st := stream.Stats(); st.Acked != 60 {
		t.Fatalf("stats %+v", st)
	}

	// For good: the stream a restart makes it open again is StreamUpdates too.
	if err := sidecar.Restart(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	writeAll(21, 30)
	if methods := recorder.methods(); len(methods) < 3 || slices.ContainsFunc(methods[1:], func(m string) bool { return m != streamUpdates }) {
		t.Fatalf("streams %v, want StreamUpdates after the first", methods)
	}
	for _, id := range ids {
		expectExactly(t, client, id, 30)
	}
}
