package bus_test

import (
	"context"
	"testing"
	"time"

	"github.com/eventbase/eventbase/bus"
	"github.com/eventbase/eventbase/eventstore"
)

// TestInProcessPreservesOrder: the hub relies on batches arriving in the
// order the runner published them (it skips positions it has passed), so
// the in-process bus must not reorder them.
func TestInProcessPreservesOrder(t *testing.T) {
	b := bus.NewInProcess(nil)
	defer b.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const n = 2000
	got := make(chan int64, n)
	if err := b.Subscribe(ctx, func(evs []eventstore.Event) {
		for _, e := range evs {
			got <- e.Position
		}
	}); err != nil {
		t.Fatal(err)
	}
	for i := int64(1); i <= n; i++ {
		b.Publish([]eventstore.Event{{Position: i, AppID: "a", StreamID: "s", Type: "t"}})
	}
	for want := int64(1); want <= n; want++ {
		select {
		case p := <-got:
			if p != want {
				t.Fatalf("batch %d arrived when %d was expected: the bus reordered", p, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("batch %d never arrived", want)
		}
	}
}
