package mongotest

import (
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// Proxy forwards TCP to a MongoDB server and can be taken down: then it cuts
// every connection and refuses new ones, as a network outage would.
type Proxy struct {
	l      net.Listener
	target string
	mu     sync.Mutex
	up     bool
	conns  map[net.Conn]struct{}
}

// StartProxy puts a proxy in front of the single-host server of uri and
// returns the proxy and a URI through it (direct connection, 500 ms server
// selection, so failures show quickly). It skips the test for URIs it
// cannot proxy (replica-set seed lists, mongodb+srv).
func StartProxy(t testing.TB, uri string) (*Proxy, string) {
	t.Helper()
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "mongodb" || strings.Contains(u.Host, ",") {
		t.Skipf("needs a single-host mongodb:// URI to put a proxy in front of, have %q", uri)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{l: l, target: u.Host, up: true, conns: map[net.Conn]struct{}{}}
	t.Cleanup(func() {
		l.Close()
		p.SetUp(false)
	})
	go p.serve()
	u.Host = l.Addr().String()
	qs := u.Query()
	qs.Set("directConnection", "true")
	qs.Set("serverSelectionTimeoutMS", "500")
	u.RawQuery = qs.Encode()
	return p, u.String()
}

// SetUp restores (true) or cuts (false) the connection to the server.
func (p *Proxy) SetUp(up bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.up = up
	if !up {
		for c := range p.conns {
			c.Close()
		}
		clear(p.conns)
	}
}

func (p *Proxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.up {
		return false
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *Proxy) serve() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		go func() {
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				return
			}
			if !p.track(c, up) {
				c.Close()
				up.Close()
				return
			}
			go func() { io.Copy(up, c); up.Close() }()
			io.Copy(c, up)
			c.Close()
		}()
	}
}
