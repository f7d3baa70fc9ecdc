package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/eventbase/eventbase/commands"
	"github.com/eventbase/eventbase/server"
)

// Spawn starts `eventbase serve` (this binary) as a child process on a
// temporary data directory and a free loopback port, with an admin and one
// app, so server and load tool are measured as separate processes. stop
// ends the child and removes the directory.
func Spawn(ctx context.Context, env ...string) (t Target, stop func(), err error) {
	dir, err := os.MkdirTemp("", "eventbase-bench-")
	if err != nil {
		return t, nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	events, err := server.OpenEvents(ctx, server.Config{DataDir: dir})
	if err != nil {
		cleanup()
		return t, nil, err
	}
	const email, password = "bench@localhost.test", "bench-password-1"
	_, err = commands.New(events, nil).CreateAdmin(ctx, commands.Meta{Actor: "bench"}, email, password)
	events.Close()
	if err != nil {
		cleanup()
		return t, nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cleanup()
		return t, nil, err
	}
	addr := l.Addr().String()
	l.Close()
	self, err := os.Executable()
	if err != nil {
		cleanup()
		return t, nil, err
	}
	cmd := exec.Command(self, "serve")
	cmd.Env = append(os.Environ(), "EVENTBASE_DATA_DIR="+dir, "EVENTBASE_ADDR="+addr,
		"EVENTBASE_RATE_LIMITS=off", "EVENTBASE_LOG_REQUESTS=off")
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		cleanup()
		return t, nil, err
	}
	stop = func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		cleanup()
	}
	base := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			stop()
			return t, nil, fmt.Errorf("bench: server did not become healthy at %s", base)
		}
		time.Sleep(50 * time.Millisecond)
	}
	resp, err := http.Post(base+"/admin/v1/login", "application/json", strings.NewReader(`{"email":"`+email+`","password":"`+password+`"}`))
	if err != nil {
		stop()
		return t, nil, err
	}
	var login struct {
		Token string `json:"token"`
	}
	err = json.NewDecoder(resp.Body).Decode(&login)
	resp.Body.Close()
	if err != nil || login.Token == "" {
		stop()
		return t, nil, fmt.Errorf("bench: admin login failed: %v", err)
	}
	t, err = CreateApp(base, login.Token, "bench")
	if err != nil {
		stop()
		return t, nil, err
	}
	return t, stop, nil
}
