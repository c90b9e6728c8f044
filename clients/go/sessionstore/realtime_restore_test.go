package sessionstore_test

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	pb "github.com/sessionstore/sessionstore/clients/go/gen/sessionstore/v1"
	"github.com/sessionstore/sessionstore/clients/go/sessionstore"
)

// restoreCase is one case of the fixtures the TypeScript and Python clients' tests read too.
type restoreCase struct {
	Name    string          `json:"name"`
	Session json.RawMessage `json:"session"`
	Budget  struct {
		MaxItems int `json:"maxItems"`
		MaxChars int `json:"maxChars"`
	} `json:"budget"`
	Expected struct {
		Events            []any    `json:"events"`
		UnansweredCallIDs []string `json:"unansweredCallIds"`
		DroppedItems      int      `json:"droppedItems"`
	} `json:"expected"`
}

func TestRealtimeRestoreFixtures(t *testing.T) {
	raw, err := os.ReadFile("../../../test/fixtures/realtime-restore.json")
	if err != nil {
		t.Fatal(err)
	}
	var fixtures struct {
		Cases []restoreCase `json:"cases"`
	}
	if err := json.Unmarshal(raw, &fixtures); err != nil {
		t.Fatal(err)
	}
	if len(fixtures.Cases) == 0 {
		t.Fatal("no cases in the fixture file")
	}
	for _, c := range fixtures.Cases {
		t.Run(c.Name, func(t *testing.T) {
			session := &pb.Session{}
			if err := protojson.Unmarshal(c.Session, session); err != nil {
				t.Fatal(err)
			}
			restore := sessionstore.RealtimeRestoreOf(session, sessionstore.RestoreBudget{MaxItems: c.Budget.MaxItems, MaxChars: c.Budget.MaxChars})
			// Through JSON, as a bridge sends them: what the fixture holds is the wire form.
			encoded, err := json.Marshal(restore.Events)
			if err != nil {
				t.Fatal(err)
			}
			var events []any
			if err := json.Unmarshal(encoded, &events); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(events, c.Expected.Events) {
				t.Errorf("events:\n got %s\nwant %s", encoded, mustJSON(t, c.Expected.Events))
			}
			unanswered := []string{}
			for _, call := range restore.UnansweredCalls {
				unanswered = append(unanswered, call.GetCallId())
			}
			if !reflect.DeepEqual(unanswered, c.Expected.UnansweredCallIDs) {
				t.Errorf("unanswered calls: got %v, want %v", unanswered, c.Expected.UnansweredCallIDs)
			}
			if restore.DroppedItems != c.Expected.DroppedItems {
				t.Errorf("dropped items: got %d, want %d", restore.DroppedItems, c.Expected.DroppedItems)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
