package main

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
)

func TestStatusOf(t *testing.T) {
	tests := []struct{ head, want string }{
		{"HTTP/1.1 408 Request Timeout\r\n", "408"},
		{"HTTP/1.1 429 ", "429"},
		{"HTTP/1.0 503", "503"},
		{"", "none"},
		{"garbage", "none"},
		{"HTTP/1.1 4", "none"},
	}
	for _, tt := range tests {
		if got := statusOf([]byte(tt.head)); got != tt.want {
			t.Errorf("statusOf(%q) = %q, want %q", tt.head, got, tt.want)
		}
	}
}

// A slow-body connection writes its head and notices the server's answer
// and close; one the tool closes itself is not counted as the server's.
func TestSlowConnSeesTheServerClose(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	heads := make(chan *http.Request, 2)
	go func() {
		for i := 0; ; i++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			req, err := http.ReadRequest(bufio.NewReader(c))
			if err == nil {
				heads <- req
			}
			if i == 0 { // the first is answered and closed, as a body timeout would
				c.Write([]byte("HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n"))
				c.Close()
			} // the second is held
		}
	}()
	head := "POST /token HTTP/1.1\r\nHost: x\r\nContent-Length: 60000\r\n\r\naaaaaaaaaa"
	var held atomic.Int64
	var conns []*slowConn
	for range 2 {
		c, err := openSlow(context.Background(), net.IPv4(127, 0, 0, 1), ln.Addr().String(), head)
		if err != nil {
			t.Fatal(err)
		}
		held.Add(1)
		go c.read(&held)
		conns = append(conns, c)
		if req := <-heads; req.ContentLength != 60000 || req.URL.Path != "/token" {
			t.Errorf("server got %s %s with Content-Length %d", req.Method, req.URL, req.ContentLength)
		}
	}
	<-conns[0].done
	if conns[0].closedAt.IsZero() || conns[0].answer != "408" {
		t.Errorf("first: closed at %v with %q, want a close with 408", conns[0].closedAt, conns[0].answer)
	}
	conns[1].closing.Store(true)
	conns[1].conn.Close()
	<-conns[1].done
	if !conns[1].closedAt.IsZero() || held.Load() != 0 {
		t.Errorf("second: closed at %v, held %d; want the tool's own close, nothing held", conns[1].closedAt, held.Load())
	}
}
