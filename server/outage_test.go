package server_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/eventbase/eventbase/internal/ebtest"
	"github.com/eventbase/eventbase/internal/mongotest"
	"github.com/eventbase/eventbase/server"
)

// TestMongoOutageIs503AndHeals cuts the network to MongoDB under a serving
// node: writes answer 503 with a clear body, and service resumes by itself
// once MongoDB is reachable again.
func TestMongoOutageIs503AndHeals(t *testing.T) {
	proxy, uri := mongotest.StartProxy(t, mongotest.URI(t))
	s := ebtest.Start(t, server.Config{MongoURI: uri, MongoDB: mongotest.DBName("outage")})
	app := s.CreateApp(t, "outage")
	sk := ebtest.H{"x-api-key": app.SecretKey}
	base := "/v1/" + app.AppID + "/things"
	s.Do(t, "POST", base, sk, map[string]any{"n": 1}).Status(t, 201)

	proxy.SetUp(false)
	start := time.Now()
	s.Do(t, "POST", base, sk, map[string]any{"n": 2}).Error(t, 503, "The data store is unavailable; retry shortly")
	if el := time.Since(start); el > 10*time.Second {
		t.Fatalf("the failing write took %s", el)
	}
	proxy.SetUp(true)
	deadline := time.Now().Add(20 * time.Second)
	for {
		res := s.Do(t, "POST", base, sk, map[string]any{"n": 3})
		if res.Code == 201 {
			break
		}
		if res.Code != 503 || time.Now().After(deadline) {
			t.Fatalf("after the outage: %d %s", res.Code, res.Raw)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Reads and the log are consistent: n=1 and n=3, not the failed n=2.
	list := s.Do(t, "GET", base+"?sort=n", sk, nil).Status(t, 200)
	var ns []float64
	for _, d := range decodeData(t, list.Raw) {
		ns = append(ns, d["n"].(float64))
	}
	if len(ns) != 2 || ns[0] != 1 || ns[1] != 3 {
		t.Fatalf("documents after the outage: %v", ns)
	}
	s.Do(t, "GET", "/health", nil, nil).Status(t, 200)
}

// TestUnreachableMongoAtStart: a clear error, quickly, no panic.
func TestUnreachableMongoAtStart(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	start := time.Now()
	_, err = server.Open(context.Background(), server.Config{DataDir: t.TempDir(), MongoURI: "mongodb://" + addr + "/?serverSelectionTimeoutMS=1000"})
	if err == nil || !strings.Contains(err.Error(), "unavailable") {
		t.Fatalf("open with an unreachable MongoDB: %v", err)
	}
	if el := time.Since(start); el > 15*time.Second {
		t.Fatalf("failing took %s", el)
	}
	t.Logf("error: %v", err)
}
