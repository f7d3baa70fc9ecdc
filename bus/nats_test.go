package bus_test

import (
	"context"
	"testing"
	"time"

	"github.com/eventbase/eventbase/bus"
	"github.com/eventbase/eventbase/internal/natstest"
)

func TestNudgesReachOtherNodesOnly(t *testing.T) {
	url := natstest.Start(t)
	a, err := bus.NewNATSNudges(url, "a", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := bus.NewNATSNudges(url, "b", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	gotA, gotB := make(chan int64, 10), make(chan int64, 10)
	if err := a.Subscribe(ctx, func(p int64) { gotA <- p }); err != nil {
		t.Fatal(err)
	}
	if err := b.Subscribe(ctx, func(p int64) { gotB <- p }); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // consumers created
	a.Publish(42)
	select {
	case p := <-gotB:
		if p != 42 {
			t.Fatalf("b got %d", p)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("b never got a's nudge")
	}
	select {
	case p := <-gotA:
		t.Fatalf("a got its own nudge %d", p)
	case <-time.After(300 * time.Millisecond):
	}
}
