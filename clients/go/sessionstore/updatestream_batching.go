package sessionstore

import (
	"time"

	"google.golang.org/protobuf/proto"

	sessionstorev1 "github.com/sessionstore/sessionstore/clients/go/gen/sessionstore/v1"
)

// Batching says how an UpdateStream coalesces writes into StreamUpdateBatches
// messages. Each update still has its own seq, ack and error; only the
// messages carrying them are shared. The zero value batches with the defaults.
type Batching struct {
	// Disabled sends each update in a StreamUpdates message of its own.
	Disabled bool
	// Linger is how long the first update of a message may wait for others to
	// share it. Default 2 ms: well below a 20 ms audio frame, and enough for a
	// bridge with a few hundred calls to send a few dozen updates a message.
	// Negative: send at once what is already queued.
	Linger time.Duration
	// MaxUpdates bounds the updates in one message. Default 500.
	MaxUpdates int
	// MaxBytes bounds the encoded updates in one message, well below the
	// sidecar's 4 MiB default message limit; a single larger update still
	// goes, alone. Default 1 MiB.
	MaxBytes int
}

func (b Batching) withDefaults() Batching {
	if b.Linger == 0 {
		b.Linger = 2 * time.Millisecond
	}
	if b.MaxUpdates <= 0 {
		b.MaxUpdates = 500
	}
	if b.MaxBytes <= 0 {
		b.MaxBytes = 1 << 20
	}
	return b
}

// gather collects the updates of one message, starting with first: those
// queued on sendq within Linger of it, until the message is full. It returns
// the update that would have pushed the message past MaxBytes (it opens the
// next message), and whether sendq is still open.
//
// The sender takes the next message only once the previous one is written, so
// while the sidecar or the network is slow, updates gather into fuller
// messages by themselves.
func (b Batching) gather(first *sessionstorev1.SessionUpdate, sendq <-chan *sessionstorev1.SessionUpdate) (batch []*sessionstorev1.SessionUpdate, next *sessionstorev1.SessionUpdate, open bool) {
	batch, size := []*sessionstorev1.SessionUpdate{first}, proto.Size(first)
	var linger <-chan time.Time
	if b.Linger > 0 {
		timer := time.NewTimer(b.Linger)
		defer timer.Stop()
		linger = timer.C
	}
	for len(batch) < b.MaxUpdates && size < b.MaxBytes {
		var u *sessionstorev1.SessionUpdate
		var ok bool
		if linger == nil {
			select {
			case u, ok = <-sendq:
			default:
				return batch, nil, true
			}
		} else {
			select {
			case u, ok = <-sendq:
			case <-linger:
				return batch, nil, true
			}
		}
		if !ok {
			return batch, nil, false
		}
		n := proto.Size(u)
		if size+n > b.MaxBytes {
			return batch, u, true
		}
		batch, size = append(batch, u), size+n
	}
	return batch, nil, true
}
