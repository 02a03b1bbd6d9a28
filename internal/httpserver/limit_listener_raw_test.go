package httpserver

import (
	"net"
	"syscall"
	"testing"
)

func TestLimitedConn_ExposesTheRawSocket(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := net.Dial("tcp", l.Addr().String())
		if err == nil {
			defer c.Close()
			buf := make([]byte, 1)
			_, _ = c.Read(buf)
		}
	}()
	inner, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c := &limitedConn{Conn: inner, release: func() {}}
	defer c.Close()
	var conn net.Conn = c
	sc, ok := conn.(syscall.Conn)
	if !ok {
		t.Fatal("limitedConn is not a syscall.Conn")
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var fd uintptr
	if err := raw.Control(func(f uintptr) { fd = f }); err != nil || fd == 0 {
		t.Fatalf("control: fd=%d err=%v", fd, err)
	}
}
