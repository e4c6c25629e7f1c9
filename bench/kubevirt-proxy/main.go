// SPDX-License-Identifier: Apache-2.0

// kubevirt-proxy: a migration proxy of KubeVirt's design (pkg/virt-handler/migration-proxy),
// for bench/vm_transport only: unix <-> TCP, io.Copy both ways, one goroutine per
// direction. One difference, so that multifd works at all: the source dials the target for
// each accepted connection before it accepts the next (KubeVirt dials concurrently, which
// presents QEMU 7.2's channels out of order at random), and the target connects to QEMU in
// accept order. It exits once it carried -conns connections.
//
//	kubevirt-proxy -mode source -unix PATH -tcp ADDR:PORT -conns N
//	kubevirt-proxy -mode target -tcp ADDR:PORT -unix PATH -conns N
package main

import (
	"flag"
	"io"
	"log"
	"net"
	"sync"
)

func pipe(a, b net.Conn, wg *sync.WaitGroup) {
	defer wg.Done()
	var dirs sync.WaitGroup
	dirs.Add(2)
	copyHalf := func(dst, src net.Conn) {
		defer dirs.Done()
		io.Copy(dst, src)
		if c, ok := dst.(interface{ CloseWrite() error }); ok {
			c.CloseWrite()
		}
	}
	go copyHalf(a, b)
	go copyHalf(b, a)
	dirs.Wait()
	a.Close()
	b.Close()
}

func main() {
	mode := flag.String("mode", "", "source or target")
	unixPath := flag.String("unix", "", "unix socket")
	tcpAddr := flag.String("tcp", "", "TCP address")
	conns := flag.Int("conns", 1, "connections to carry")
	flag.Parse()

	var l net.Listener
	var err error
	if *mode == "source" {
		l, err = net.Listen("unix", *unixPath)
	} else {
		l, err = net.Listen("tcp", *tcpAddr)
	}
	if err != nil {
		log.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < *conns; i++ {
		in, err := l.Accept()
		if err != nil {
			log.Fatal(err)
		}
		var out net.Conn
		if *mode == "source" {
			out, err = net.Dial("tcp", *tcpAddr)
		} else {
			out, err = net.Dial("unix", *unixPath)
		}
		if err != nil {
			log.Fatal(err)
		}
		wg.Add(1)
		go pipe(in, out, &wg)
	}
	l.Close()
	wg.Wait()
}
