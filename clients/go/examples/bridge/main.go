// Command bridge is a voice bridge's loop around one call, against a running sidecar:
//
//  1. the platform connects to pod-a: ResumeSession(create_if_missing) creates
//     the session, and pod-a streams the call's turns (history + audio) through
//     an UpdateStream;
//  2. the platform socket drops: pod-a marks the session PAUSED;
//  3. the platform reconnects, this time to pod-b: ResumeSession hands the call
//     over (new owner_epoch) with its conversation and audio intact, and pod-b
//     carries on; pod-a, which never noticed, is fenced on its next write;
//  4. the call ends; a late reconnect is refused, and its reason is read from the error.
//
// Run: go run ./examples/bridge -address 127.0.0.1:50051
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	pb "github.com/sessionstore/sessionstore/clients/go/gen/sessionstore/v1"
	"github.com/sessionstore/sessionstore/clients/go/sessionstore"
)

func main() {
	address := flag.String("address", "", "the sidecar's host:port or unix:/path")
	callID := flag.String("call-id", "", "the call's conversation_id (default: a new one)")
	flag.Parse()
	if *callID == "" {
		// A new id each run, so the example runs any number of times (an ended call stays ended).
		*callID = "example-call-" + rand.Text()
	}
	if *address == "" {
		log.Fatal("-address is required")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, *address, *callID, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, address, callID string, out io.Writer) error {
	client, err := sessionstore.NewClient(address)
	if err != nil {
		return err
	}
	defer client.Close()

	// Each pod is its own process in production, with its own stream.
	podA := sessionstore.NewUpdateStream(ctx, client, sessionstore.UpdateStreamOptions{OnFenced: func(i sessionstore.StopInfo) {
		fmt.Fprintf(out, "pod-a: stopped writing %s: %s (now owned by %s)\n", i.ConversationID, i.Reason, sessionstore.ErrorInfo(i.Err).GetMetadata()["owner_id"])
	}})
	if _, err := connectCall(ctx, client, podA, callID, "pod-a", out); err != nil {
		return err
	}
	for turn := 1; turn <= 2; turn++ {
		if err := playTurn(ctx, podA, callID, turn); err != nil {
			return err
		}
	}
	paused := &pb.SessionUpdate{UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"status"}}, Session: &pb.Session{Status: pb.SessionStatus_SESSION_STATUS_PAUSED}}
	if _, err := podA.Write(ctx, callID, paused); err != nil {
		return err
	}
	if err := podA.Flush(ctx); err != nil {
		return err
	}
	fmt.Fprintln(out, "pod-a: platform socket dropped; session PAUSED")

	podB := sessionstore.NewUpdateStream(ctx, client, sessionstore.UpdateStreamOptions{})
	session, err := connectCall(ctx, client, podB, callID, "pod-b", out)
	if err != nil {
		return err
	}
	for turn := 3; turn <= 4; turn++ {
		if err := playTurn(ctx, podB, callID, turn); err != nil {
			return err
		}
	}
	if err := podB.Flush(ctx); err != nil {
		return err
	}

	// pod-a still believes it serves the call; the sidecar refuses its write.
	late, err := podA.Write(ctx, callID, &pb.SessionUpdate{AppendHistory: []*pb.ConversationItem{{Text: "stale write"}}})
	if err != nil {
		return err
	}
	_, err = late.Wait(ctx)
	fmt.Fprintf(out, "pod-a: late write refused: %s\n", sessionstore.Reason(err))
	_ = podA.Close(ctx)

	ended, err := client.EndSession(ctx, &pb.EndSessionRequest{ConversationId: callID, Reason: "caller hung up", OwnerEpoch: session.GetOwnerEpoch()})
	if err != nil {
		return err
	}
	_ = podB.Close(ctx)
	fmt.Fprintf(out, "pod-b: call ended after turn %d; status %s\n", ended.GetSession().GetCurrentTurn(), ended.GetSession().GetStatus())

	_, err = client.ResumeSession(ctx, &pb.ResumeSessionRequest{ConversationId: callID, OwnerId: "pod-c"})
	st := status.Convert(err)
	fmt.Fprintf(out, "pod-c: reconnect refused: %s %s (%s)\n", st.Code(), sessionstore.Reason(err), st.Message())
	return nil
}

// connectCall is what a bridge does when the platform connects: take the session over, or start it.
func connectCall(ctx context.Context, client *sessionstore.Client, stream *sessionstore.UpdateStream, callID, pod string, out io.Writer) (*pb.Session, error) {
	resumed, err := client.ResumeSession(ctx, &pb.ResumeSessionRequest{
		ConversationId:  callID,
		OwnerId:         pod,
		CreateIfMissing: true,
		Session:         &pb.Session{BridgeType: "audiocodes", BotName: "voice-bot", MediaFormat: "raw/lpcm16"},
	})
	if err != nil {
		return nil, err
	}
	s := resumed.GetSession()
	audio := 0
	for _, chunk := range s.GetAudioBuffer() {
		audio += len(chunk.GetData())
	}
	how := "created"
	if !resumed.GetCreated() {
		how = fmt.Sprintf("resumed (resume #%d, epoch %d)", s.GetResumedCount(), s.GetOwnerEpoch())
	}
	fmt.Fprintf(out, "%s: %s %s with %d history items and %d audio bytes\n", pod, how, callID, len(s.GetConversationHistory()), audio)
	stream.Track(s) // its writes carry this epoch and continue from s.last_seq
	return s, nil
}

// playTurn writes one exchange: the caller's words, the bot's reply, and the caller's audio frame.
func playTurn(ctx context.Context, stream *sessionstore.UpdateStream, callID string, turn int) error {
	_, err := stream.Write(ctx, callID, &pb.SessionUpdate{
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"current_turn"}},
		Session:    &pb.Session{CurrentTurn: int32(turn)},
		AppendHistory: []*pb.ConversationItem{
			{ItemId: fmt.Sprintf("u%d", turn), Role: "user", Type: "message", Text: fmt.Sprintf("caller turn %d", turn)},
			{ItemId: fmt.Sprintf("a%d", turn), Role: "assistant", Type: "message", Text: fmt.Sprintf("bot reply %d", turn)},
		},
		AppendAudio: []*pb.AudioChunk{{Data: bytes.Repeat([]byte{byte(turn)}, 3200)}}, // 100 ms of 16 kHz PCM16
	})
	return err
}
