package sessionstore_test

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"

	pb "github.com/sessionstore/sessionstore/clients/go/gen/sessionstore/v1"
	"github.com/sessionstore/sessionstore/clients/go/sessionstore"
)

// UpdateStream against a sidecar that sheds load: updates refused as OVERLOADED
// are held and sent again until every write is stored, in order.

const (
	overloadSessions, overloadWrites = 20, 150
	// The sidecar sheds only when a commit outlasts its 20 ms queue timeout, which
	// one burst from one stream does not always cause: up to this many bursts, until one is shed.
	maxOverloadBursts = 30
)

// overloadBurst writes every update of new sessions at once, and returns the sessions once all are acknowledged.
func overloadBurst(t *testing.T, client pb.SessionStoreServiceClient, stream *sessionstore.UpdateStream) []string {
	t.Helper()
	chunk := bytes.Repeat([]byte{5}, 3200) // 100 ms of 16 kHz 16-bit audio
	var ids []string
	for range overloadSessions {
		ids = append(ids, newID(t))
		stream.Track(create(t, client, &pb.Session{ConversationId: ids[len(ids)-1]}))
	}
	var pending []*sessionstore.Pending
	for n := 1; n <= overloadWrites; n++ {
		for _, id := range ids {
			p, err := stream.Write(ctx, id, &pb.SessionUpdate{
				AppendHistory: []*pb.ConversationItem{{ItemId: fmt.Sprintf("%s-%d", id, n)}},
				AppendAudio:   []*pb.AudioChunk{{Data: chunk}},
			})
			if err != nil {
				t.Fatal(err)
			}
			pending = append(pending, p)
		}
	}
	flush(t, stream, 60*time.Second)
	for _, a := range waitAll(t, pending) {
		// A resend is applied, never taken for a duplicate of what the sidecar refused.
		if !a.GetApplied() {
			t.Fatalf("not applied: %v", a)
		}
	}
	return ids
}

func TestUpdatesRefusedAsOverloadedAreResentUntilEveryWriteIsStoredInOrder(t *testing.T) {
	t.Parallel()
	sidecar := ownSidecar(t, "--update-queue-timeout", "20ms")
	client := connect(t, sidecar)
	stream := sessionstore.NewUpdateStream(t.Context(), client, sessionstore.UpdateStreamOptions{MaxUnacked: overloadSessions * overloadWrites})
	defer stream.Close(ctx)
	bursts := [][]string{overloadBurst(t, client, stream)}
	for stream.Stats().Overloaded == 0 && len(bursts) < maxOverloadBursts {
		bursts = append(bursts, overloadBurst(t, client, stream))
	}

	st := stream.Stats()
	if st.Overloaded == 0 {
		t.Fatalf("no update was shed in %d bursts", len(bursts))
	}
	if st.Acked != len(bursts)*overloadSessions*overloadWrites || st.Refused != 0 || st.Reconnects != 0 {
		t.Fatalf("stats %+v after %d bursts", st, len(bursts))
	}
	for _, ids := range bursts {
		for _, id := range ids {
			s := get(t, client, id)
			var items []string
			for _, h := range s.GetConversationHistory() {
				items = append(items, h.GetItemId())
			}
			want := make([]string, overloadWrites)
			for i := range want {
				want[i] = fmt.Sprintf("%s-%d", id, i+1)
			}
			if s.GetLastSeq() != overloadWrites || !slices.Equal(items, want) {
				t.Fatalf("%s: last_seq %d, history %v", id, s.GetLastSeq(), items)
			}
		}
	}
	t.Logf("%d bursts, stats %+v", len(bursts), st)
}
