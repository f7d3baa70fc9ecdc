package cache

import "testing"

func TestStaleFillIsDropped(t *testing.T) {
	c := New[int]()
	g := c.Gen()
	c.Invalidate("a") // an event changed "a" while a reader was loading it
	c.Fill(g, 1, "a")
	if _, ok := c.Get("a"); ok {
		t.Fatal("stale fill was kept")
	}
	c.Fill(c.Gen(), 2, "a", "b")
	if v, ok := c.Get("b"); !ok || v != 2 {
		t.Fatalf("fresh fill: %v %v", v, ok)
	}
	c.Invalidate("a")
	if _, ok := c.Get("a"); ok {
		t.Fatal("invalidated key still cached")
	}
	if v, _ := c.Get("b"); v != 2 {
		t.Fatal("invalidation dropped another key")
	}
}
