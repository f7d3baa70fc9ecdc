// Package bus carries committed events from the projection runner to
// in-process consumers (the realtime hub, mail, hooks) through watermill:
// a GoChannel pub/sub on one node, NATS JetStream between nodes. The log
// stays the truth: a consumer that misses bus messages catches up from the
// event store by position, so the bus only has to be fast, not reliable.
package bus

import (
	"context"
	"encoding/json"
	"log/slog"
	"strconv"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	"github.com/eventbase/eventbase/eventstore"
)

// Topic is the watermill topic of committed events.
const Topic = "eventbase.events"

// Bus publishes batches of committed events and subscribes to them.
type Bus struct {
	pub message.Publisher
	sub message.Subscriber
	log *slog.Logger
}

// New returns a bus over a watermill publisher and subscriber.
func New(pub message.Publisher, sub message.Subscriber, log *slog.Logger) *Bus {
	if log == nil {
		log = slog.Default()
	}
	return &Bus{pub: pub, sub: sub, log: log}
}

// NewInProcess returns a bus over watermill's GoChannel, for one node.
// GoChannel hands each message to a subscriber from its own goroutine, so
// without waiting for the ack two batches can arrive swapped, and the hub
// (which skips positions it has passed) would drop the later-arriving one.
// Publish therefore waits until the subscriber has taken the batch: batches
// arrive in publish order, and the runner is held only while the hub
// queues the batch's changes (it never writes to a socket there).
func NewInProcess(log *slog.Logger) *Bus {
	gc := gochannel.NewGoChannel(gochannel.Config{OutputChannelBuffer: 1024, BlockPublishUntilSubscriberAck: true}, watermill.NopLogger{})
	return New(gc, gc, log)
}

// Publish sends one batch, in position order. Failures are logged, not
// returned: subscribers recover from the log.
func (b *Bus) Publish(evs []eventstore.Event) {
	if len(evs) == 0 {
		return
	}
	raw, err := json.Marshal(evs)
	if err != nil {
		b.log.Error("bus: encode batch", "err", err)
		return
	}
	msg := message.NewMessage(watermill.NewUUID(), raw)
	msg.Metadata.Set("first_position", strconv.FormatInt(evs[0].Position, 10))
	msg.Metadata.Set("last_position", strconv.FormatInt(evs[len(evs)-1].Position, 10))
	if err := b.pub.Publish(Topic, msg); err != nil {
		b.log.Warn("bus: publish failed; subscribers will catch up from the log", "err", err)
	}
}

// Subscribe delivers batches to fn, in the order published, until ctx ends.
func (b *Bus) Subscribe(ctx context.Context, fn func([]eventstore.Event)) error {
	msgs, err := b.sub.Subscribe(ctx, Topic)
	if err != nil {
		return err
	}
	go func() {
		for msg := range msgs {
			var evs []eventstore.Event
			if err := json.Unmarshal(msg.Payload, &evs); err != nil {
				b.log.Error("bus: decode batch", "err", err)
			} else {
				fn(evs)
			}
			msg.Ack()
		}
	}()
	return nil
}

// Close closes the publisher and, when it is another value, the subscriber.
func (b *Bus) Close() error {
	err := b.pub.Close()
	if sub, ok := b.sub.(message.Publisher); !ok || sub != b.pub {
		if e := b.sub.Close(); err == nil {
			err = e
		}
	}
	return err
}
