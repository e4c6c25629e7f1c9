// SPDX-License-Identifier: Apache-2.0

// kvproxy: a migration proxy of KubeVirt's design, for the benchmarks only.
//
// KubeVirt's virt-handler (pkg/virt-handler/migration-proxy) carries QEMU's migration between
// nodes: on the source it listens on a unix socket that QEMU connects to and forwards each
// connection over TCP (optionally mutual TLS) to the target virt-handler, which forwards it to
// the target QEMU's unix socket. Each direction of each connection is one io.Copy, so every
// byte passes through user space twice per node. This program is that design and nothing
// more, so that bench/vm_migration can run it beside mignet in one run.
//
// One deviation: KubeVirt dials the target from a goroutine per accepted connection, so
// multifd channels can reach the target QEMU out of order, which QEMU 7.2 refuses ("received
// packet magic ... expected ..."). Here the accept loop dials before accepting the next
// connection, which keeps the order and changes nothing on the data path.
//
//	kvproxy -listen unix:/run/x.sock -target tcp:10.0.0.2:49200 [-tls-dir D -tls-server-name N]
//	kvproxy -listen tcp:10.0.0.2:49200 -target unix:/run/y.sock [-tls-dir D]
package main

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"strings"
)

func split(endpoint string) (network, address string) {
	i := strings.Index(endpoint, ":")
	if i < 0 {
		log.Fatalf("endpoint %q: want unix:PATH or tcp:HOST:PORT", endpoint)
	}
	return endpoint[:i], endpoint[i+1:]
}

// tlsConfig builds KubeVirt's mutual TLS: both sides present a certificate of the cluster CA
// and verify the peer's against it.
func tlsConfig(dir, serverName string, server bool) *tls.Config {
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"))
	if err != nil {
		log.Fatal(err)
	}
	pem, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		log.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		log.Fatalf("%s/ca.crt: no certificate", dir)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if server {
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	} else {
		cfg.RootCAs = pool
		cfg.ServerName = serverName
	}
	return cfg
}

func forward(in net.Conn, out net.Conn) {
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		io.Copy(dst, src)
		dst.Close()
		src.Close()
		done <- struct{}{}
	}
	go pipe(out, in)
	go pipe(in, out)
	<-done
	<-done
}

func main() {
	listen := flag.String("listen", "", "unix:PATH or tcp:HOST:PORT")
	target := flag.String("target", "", "unix:PATH or tcp:HOST:PORT")
	tlsDir := flag.String("tls-dir", "", "directory with tls.crt, tls.key, ca.crt: mutual TLS on the tcp side")
	serverName := flag.String("tls-server-name", "kubevirt.io:system:node:virt-handler", "expected server name")
	flag.Parse()
	if *listen == "" || *target == "" {
		flag.Usage()
		os.Exit(2)
	}
	lnet, laddr := split(*listen)
	tnet, taddr := split(*target)
	if lnet == "unix" {
		os.Remove(laddr)
	}
	ln, err := net.Listen(lnet, laddr)
	if err != nil {
		log.Fatal(err)
	}
	if *tlsDir != "" && lnet == "tcp" {
		ln = tls.NewListener(ln, tlsConfig(*tlsDir, "", true))
	}
	fmt.Println("listening")
	for {
		in, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		var out net.Conn
		if *tlsDir != "" && tnet == "tcp" {
			out, err = tls.Dial(tnet, taddr, tlsConfig(*tlsDir, *serverName, false))
		} else {
			out, err = net.Dial(tnet, taddr)
		}
		if err != nil {
			log.Printf("dial %s: %v", *target, err)
			in.Close()
			continue
		}
		go forward(in, out)
	}
}
