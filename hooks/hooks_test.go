package hooks

import (
	"io"
	"log/slog"
	"testing"
	"time"
)

func TestSignVerify(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"event":"login"}`)
	h := Sign("whsec_k", now, body)
	if err := Verify("whsec_k", h, body, now.Add(time.Minute), 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"other secret": Verify("whsec_x", h, body, now, 5*time.Minute),
		"changed body": Verify("whsec_k", h, []byte(`{"event":"signup"}`), now, 5*time.Minute),
		"too old":      Verify("whsec_k", h, body, now.Add(6*time.Minute), 5*time.Minute),
		"garbage":      Verify("whsec_k", "v1=abc", body, now, 5*time.Minute),
	} {
		if err != ErrBadSignature {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestProgressSavesContiguousPrefix(t *testing.T) {
	t.Parallel()
	var saved []int64
	p := &progress{save: func(pos int64) error { saved = append(saved, pos); return nil }, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, pos := range []int64{3, 5, 8, 9} {
		p.add(pos)
	}
	p.finish(5) // 3 still in flight: nothing saved
	p.finish(9)
	if len(saved) != 0 {
		t.Fatalf("saved past an unfinished delivery: %v", saved)
	}
	p.finish(3) // 3 and 5 done
	p.finish(8) // then 8 and 9
	if len(saved) != 2 || saved[0] != 5 || saved[1] != 9 {
		t.Fatalf("saved %v", saved)
	}
}
