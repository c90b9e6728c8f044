// Command interop is step 2 of 3 of test/e2e/interop.test.ts: a Go bridge
// receives the reconnect of a call that a Python bridge served.
//
// It resumes the session as pod-go, prints the Session it got, writes one
// more turn (a history item and the audio chunk given in -audio, base64)
// through an UpdateStream, and prints the stored session: each Session
// serialized and base64-encoded, one per line.
package main

import (
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"log"
	"time"

	"google.golang.org/protobuf/proto"

	pb "github.com/sessionstore/sessionstore/clients/go/gen/sessionstore/v1"
	"github.com/sessionstore/sessionstore/clients/go/sessionstore"
)

func main() {
	address := flag.String("address", "", "the sidecar's address")
	callID := flag.String("call-id", "", "the call to resume")
	audio := flag.String("audio", "", "base64 audio chunk to append")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := run(ctx, *address, *callID, *audio); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, address, callID, audio string) error {
	chunk, err := base64.StdEncoding.DecodeString(audio)
	if err != nil {
		return err
	}
	client, err := sessionstore.NewClient(address)
	if err != nil {
		return err
	}
	defer client.Close()
	resumed, err := client.ResumeSession(ctx, &pb.ResumeSessionRequest{ConversationId: callID, OwnerId: "pod-go"})
	if err != nil {
		return err
	}
	if err := printSession(resumed.GetSession()); err != nil {
		return err
	}
	stream := sessionstore.NewUpdateStream(ctx, client, sessionstore.UpdateStreamOptions{})
	stream.Track(resumed.GetSession())
	p, err := stream.Write(ctx, callID, &pb.SessionUpdate{
		AppendHistory: []*pb.ConversationItem{{ItemId: "go-1", Role: "assistant", Type: "message", Text: "Welcome back, resumed from Go"}},
		AppendAudio:   []*pb.AudioChunk{{Data: chunk}},
	})
	if err != nil {
		return err
	}
	if _, err := p.Wait(ctx); err != nil {
		return err
	}
	if err := stream.Close(ctx); err != nil {
		return err
	}
	stored, err := client.GetSession(ctx, &pb.GetSessionRequest{ConversationId: callID, View: pb.SessionView_SESSION_VIEW_FULL})
	if err != nil {
		return err
	}
	return printSession(stored.GetSession())
}

func printSession(s *pb.Session) error {
	b, err := proto.Marshal(s)
	if err != nil {
		return err
	}
	fmt.Println(base64.StdEncoding.EncodeToString(b))
	return nil
}
