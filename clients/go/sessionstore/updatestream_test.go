package sessionstore_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	pb "github.com/sessionstore/sessionstore/clients/go/gen/sessionstore/v1"
	"github.com/sessionstore/sessionstore/clients/go/sessionstore"
)

// UpdateStream against the real sidecar: seq, acks, replay across sidecar restarts.

// frame is 100 ms of 8 kHz 16-bit audio, different for every n, so a lost or doubled frame shows.
func frame(n int) []byte {
	b := make([]byte, 1600)
	for i := range b {
		b[i] = byte(n*31 + i)
	}
	return b
}

func round(n int) *pb.SessionUpdate {
	return &pb.SessionUpdate{
		UpdateMask:    &fieldmaskpb.FieldMask{Paths: []string{"current_turn"}},
		Session:       &pb.Session{CurrentTurn: int32(n)},
		AppendHistory: []*pb.ConversationItem{{ItemId: fmt.Sprintf("h%d", n), Role: "user", Text: fmt.Sprintf("turn %d", n)}},
		AppendAudio:   []*pb.AudioChunk{{Data: frame(n)}},
	}
}

func writeRounds(t *testing.T, stream *sessionstore.UpdateStream, id string, from, to int) []*sessionstore.Pending {
	t.Helper()
	var ps []*sessionstore.Pending
	for n := from; n <= to; n++ {
		p, err := stream.Write(ctx, id, round(n))
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	return ps
}

// waitAppliedInOrder waits for a session's writes and fails unless each was applied, with seqs 1, 2, … in order.
func waitAppliedInOrder(t *testing.T, id string, ps []*sessionstore.Pending) []*pb.UpdateAck {
	t.Helper()
	acks := waitAll(t, ps)
	for i, a := range acks {
		if a.GetConversationId() != id || a.GetSeq() != int64(i+1) || !a.GetApplied() {
			t.Fatalf("ack %d of %s: %v", i, id, a)
		}
	}
	return acks
}

func waitAll(t *testing.T, ps []*sessionstore.Pending) []*pb.UpdateAck {
	t.Helper()
	var acks []*pb.UpdateAck
	for _, p := range ps {
		ack, err := p.Wait(ctx)
		if err != nil {
			t.Fatal(err)
		}
		acks = append(acks, ack)
	}
	return acks
}

func flush(t *testing.T, stream *sessionstore.UpdateStream, timeout time.Duration) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := stream.Flush(c); err != nil {
		t.Fatalf("flush: %v (stats %+v)", err, stream.Stats())
	}
}

// expectExactly checks the stored session holds every round once, in order.
func expectExactly(t *testing.T, client pb.SessionStoreServiceClient, id string, rounds int) *pb.Session {
	t.Helper()
	s := get(t, client, id)
	if len(s.GetConversationHistory()) != rounds || len(s.GetAudioBuffer()) != rounds {
		t.Fatalf("%d history items and %d audio chunks, want %d", len(s.GetConversationHistory()), len(s.GetAudioBuffer()), rounds)
	}
	for i := range rounds {
		if s.GetConversationHistory()[i].GetItemId() != fmt.Sprintf("h%d", i+1) || !bytes.Equal(s.GetAudioBuffer()[i].GetData(), frame(i+1)) {
			t.Fatalf("round %d is not where it belongs", i+1)
		}
	}
	if s.GetLastSeq() != int64(rounds) || s.GetCurrentTurn() != int32(rounds) {
		t.Fatalf("last_seq %d, current_turn %d", s.GetLastSeq(), s.GetCurrentTurn())
	}
	return s
}

func TestInterleavedSessionsGetTheirAcksInOrder(t *testing.T) {
	client := connect(t, shared)
	stream := sessionstore.NewUpdateStream(t.Context(), client, sessionstore.UpdateStreamOptions{})
	defer stream.Close(ctx)
	ids := []string{newID(t), newID(t), newID(t), newID(t), newID(t)}
	pending := map[string][]*sessionstore.Pending{}
	for _, id := range ids {
		stream.Track(create(t, client, &pb.Session{ConversationId: id}))
	}
	for n := 1; n <= 10; n++ {
		for _, id := range ids {
			pending[id] = append(pending[id], writeRounds(t, stream, id, n, n)...)
		}
	}
	flush(t, stream, 30*time.Second)
	for _, id := range ids {
		acks := waitAppliedInOrder(t, id, pending[id])
		if s := expectExactly(t, client, id, 10); s.GetEtag() != acks[9].GetEtag() {
			t.Fatal("the last ack's etag is not the session's")
		}
	}
	if st := stream.Stats(); st.Acked != 50 || st.Duplicates != 0 || st.Reconnects != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestUpdatesWrittenWhileTheSidecarIsDownAreSentWhenItIsBack(t *testing.T) {
	t.Parallel()
	sidecar := ownSidecar(t)
	client := connect(t, sidecar)
	disconnects := 0
	stream := sessionstore.NewUpdateStream(t.Context(), client, sessionstore.UpdateStreamOptions{OnDisconnect: func(*status.Status, int) { disconnects++ }})
	defer stream.Close(ctx)
	stream.Track(create(t, client, &pb.Session{ConversationId: "down-1"}))
	writeRounds(t, stream, "down-1", 1, 5)
	flush(t, stream, 10*time.Second)

	if _, err := sidecar.Stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	later := writeRounds(t, stream, "down-1", 6, 10)
	time.Sleep(500 * time.Millisecond) // the stream is retrying against a closed port
	if err := sidecar.Start(); err != nil {
		t.Fatal(err)
	}
	flush(t, stream, 30*time.Second)
	var seqs []int64
	for _, a := range waitAll(t, later) {
		seqs = append(seqs, a.GetSeq())
	}
	if !slices.Equal(seqs, []int64{6, 7, 8, 9, 10}) {
		t.Fatalf("acked seqs %v", seqs)
	}
	if st := stream.Stats(); st.Reconnects < 1 || st.Replayed < 5 || disconnects < 1 {
		t.Fatalf("stats %+v, %d disconnects", st, disconnects)
	}
	expectExactly(t, client, "down-1", 10)
}

func TestACrashMidStreamLosesNothingAndAppliesNothingTwice(t *testing.T) {
	t.Parallel()
	for name, batching := range map[string]sessionstore.Batching{"batches": {}, "single": {Disabled: true}} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			sidecar := ownSidecar(t)
			client, recorder := connectRecorded(t, sidecar, nil)
			stream := sessionstore.NewUpdateStream(t.Context(), client, sessionstore.UpdateStreamOptions{Batching: batching})
			defer stream.Close(ctx)
			const sessions, rounds = 10, 60
			var ids []string
			for i := range sessions {
				ids = append(ids, fmt.Sprintf("crash-%d", i))
				stream.Track(create(t, client, &pb.Session{ConversationId: ids[i]}))
			}
			pending := map[string][]*sessionstore.Pending{}
			write := func(from, to int) {
				for n := from; n <= to; n++ {
					for _, id := range ids {
						pending[id] = append(pending[id], writeRounds(t, stream, id, n, n)...)
					}
				}
			}
			write(1, rounds-20)
			if _, err := pending[ids[0]][5].Wait(ctx); err != nil { // some are durable, the rest in flight
				t.Fatal(err)
			}
			if _, err := sidecar.Stop(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			// On a busy machine everything sent may have been acked before the kill; the
			// writes made while the sidecar is down are sure to need the reopened stream.
			write(rounds-19, rounds)
			if err := sidecar.Start(); err != nil {
				t.Fatal(err)
			}
			flush(t, stream, 30*time.Second)
			// Updates applied before the crash but never acked come back as duplicates.
			for _, id := range ids {
				for i, a := range waitAll(t, pending[id]) {
					if a.GetSeq() != int64(i+1) {
						t.Fatalf("ack %d of %s has seq %d", i, id, a.GetSeq())
					}
				}
			}
			if st := stream.Stats(); st.Acked != sessions*rounds || st.Reconnects < 1 || st.Replayed < 1 {
				t.Fatalf("stats %+v", st)
			}
			// The replay goes on the same RPC.
			want := streamUpdateBatches
			if batching.Disabled {
				want = streamUpdates
			}
			if methods := recorder.methods(); len(methods) < 2 || slices.ContainsFunc(methods, func(m string) bool { return m != want }) {
				t.Fatalf("streams %v, want %s only", methods, want)
			}
			for _, id := range ids {
				expectExactly(t, client, id, rounds)
			}
		})
	}
}

func TestAReplayedSeqIsAcknowledgedWithoutBeingAppliedAgain(t *testing.T) {
	client, id := connect(t, shared), newID(t)
	created := create(t, client, &pb.Session{ConversationId: id})
	first := sessionstore.NewUpdateStream(t.Context(), client, sessionstore.UpdateStreamOptions{})
	first.Track(created)
	writeRounds(t, first, id, 1, 3)
	if err := first.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// A bridge that lost its acks starts again from the Session it had: seqs 1-3 again.
	second := sessionstore.NewUpdateStream(t.Context(), client, sessionstore.UpdateStreamOptions{})
	defer second.Close(ctx)
	second.Track(created)
	var got [][2]any
	for _, a := range waitAll(t, writeRounds(t, second, id, 1, 4)) {
		got = append(got, [2]any{a.GetSeq(), a.GetApplied()})
	}
	if want := [][2]any{{int64(1), false}, {int64(2), false}, {int64(3), false}, {int64(4), true}}; !slices.Equal(got, want) {
		t.Fatalf("acks %v", got)
	}
	if second.Stats().Duplicates != 3 {
		t.Fatalf("stats %+v", second.Stats())
	}
	expectExactly(t, client, id, 4)
}

func TestARefusedUpdateFailsAndTheStreamGoesOn(t *testing.T) {
	client, id := connect(t, shared), newID(t)
	stream := sessionstore.NewUpdateStream(t.Context(), client, sessionstore.UpdateStreamOptions{})
	defer stream.Close(ctx)
	stream.Track(create(t, client, &pb.Session{ConversationId: id}))
	bad, err := stream.Write(ctx, id, &pb.SessionUpdate{Etag: "not-the-etag"})
	if err != nil {
		t.Fatal(err)
	}
	good := writeRounds(t, stream, id, 1, 1)
	if _, err := bad.Wait(ctx); sessionstore.Reason(err) != "ETAG_MISMATCH" {
		t.Fatalf("want ETAG_MISMATCH, got %v", err)
	}
	if acks := waitAll(t, good); !acks[0].GetApplied() || stream.Stats().Refused != 1 {
		t.Fatalf("after a refusal: %v %+v", acks, stream.Stats())
	}
}
