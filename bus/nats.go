package bus

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill-nats/v2/pkg/jetstream"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	natsJS "github.com/nats-io/nats.go/jetstream"
)

// NudgeTopic carries "node N appended up to position P" between nodes.
const NudgeTopic = "eventbase_nudges"

// Nudges tells the other nodes sharing a store that this node appended, so
// they read the store now rather than at their next poll. It carries no
// events: every node reads them from the store, in order, gap-safe, so a
// node that misses a nudge loses nothing but a few milliseconds.
type Nudges struct {
	node    string
	conn    *nats.Conn
	pub     message.Publisher
	sub     message.Subscriber
	log     *slog.Logger
	pending chan int64 // Announce → publishing loop, latest position wins
	done    chan struct{}
}

type nudge struct {
	Node     string `json:"node"`
	Position int64  `json:"position"`
}

// NewNATSNudges connects to NATS JetStream at url. node names this node, so
// it can ignore its own nudges.
func NewNATSNudges(url, node string, log *slog.Logger) (*Nudges, error) {
	if log == nil {
		log = slog.Default()
	}
	conn, err := nats.Connect(url, nats.Name("eventbase "+node), nats.MaxReconnects(-1), nats.ReconnectWait(500*time.Millisecond))
	if err != nil {
		return nil, fmt.Errorf("NATS at %s: %w", url, err)
	}
	wlog := watermill.NewSlogLogger(log)
	// A short-lived in-memory stream: nudges are only useful now.
	stream := func(topic string) natsJS.StreamConfig {
		return natsJS.StreamConfig{Name: topic, Subjects: []string{topic}, MaxAge: time.Minute, Storage: natsJS.MemoryStorage}
	}
	js, err := natsJS.New(conn)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err = js.CreateOrUpdateStream(ctx, stream(NudgeTopic))
		cancel()
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("NATS JetStream stream %s: %w", NudgeTopic, err)
	}
	pub, err := jetstream.NewPublisher(jetstream.PublisherConfig{Conn: conn, Logger: wlog, ConfigureStream: stream})
	if err != nil {
		conn.Close()
		return nil, err
	}
	sub, err := jetstream.NewSubscriber(jetstream.SubscriberConfig{Conn: conn, Logger: wlog, ConfigureStream: stream,
		// Every node has its own ephemeral consumer and sees only new nudges.
		ConfigureConsumer: func(topic, group string) natsJS.ConsumerConfig {
			return natsJS.ConsumerConfig{DeliverPolicy: natsJS.DeliverNewPolicy, AckPolicy: natsJS.AckNonePolicy, FilterSubject: topic}
		},
	})
	if err != nil {
		pub.Close()
		conn.Close()
		return nil, err
	}
	n := &Nudges{node: node, conn: conn, pub: pub, sub: sub, log: log, pending: make(chan int64, 1), done: make(chan struct{})}
	go n.loop()
	return n, nil
}

// Announce says, without waiting, that this node appended up to pos.
// Announcements made while one is being published are coalesced into the
// next, so a burst of writes costs a few messages, not one each.
func (n *Nudges) Announce(pos int64) {
	for {
		select {
		case n.pending <- pos:
			return
		default:
		}
		select {
		case old := <-n.pending:
			pos = max(pos, old)
		default:
		}
	}
}

func (n *Nudges) loop() {
	for {
		select {
		case pos := <-n.pending:
			n.Publish(pos)
		case <-n.done:
			return
		}
	}
}

// Publish says this node appended up to pos. Failures are logged: the
// others will still find the events at their next poll.
func (n *Nudges) Publish(pos int64) {
	raw, _ := json.Marshal(nudge{Node: n.node, Position: pos})
	if err := n.pub.Publish(NudgeTopic, message.NewMessage(watermill.NewUUID(), raw)); err != nil {
		n.log.Warn("bus: nudge not published; other nodes will poll", "err", err)
	}
}

// Subscribe calls fn for every nudge from another node until ctx ends.
func (n *Nudges) Subscribe(ctx context.Context, fn func(pos int64)) error {
	msgs, err := n.sub.Subscribe(ctx, NudgeTopic)
	if err != nil {
		return err
	}
	go func() {
		for msg := range msgs {
			var m nudge
			if json.Unmarshal(msg.Payload, &m) == nil && m.Node != n.node {
				fn(m.Position)
			}
			msg.Ack()
		}
	}()
	return nil
}

// Close closes the publisher, subscriber and connection.
func (n *Nudges) Close() error {
	close(n.done)
	err := n.sub.Close()
	if e := n.pub.Close(); err == nil {
		err = e
	}
	n.conn.Close()
	return err
}
