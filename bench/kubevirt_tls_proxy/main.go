// SPDX-License-Identifier: Apache-2.0
// A migration proxy of KubeVirt's design (pkg/virt-handler/migration-proxy), for
// bench/vm_tls: mutual TLS with Go's crypto/tls and io.Copy in both directions, the
// peer checked as KubeVirt's verifyPeerCert does (the chain to the CA with the role's
// extended key usage, the subject CN). One change: each connection is set up (accepted,
// dialled, handshaken) before the next is accepted, so QEMU sees them in its own order
// (QEMU 7.2 takes the first connection for the main channel; KubeVirt dials concurrently).
//
//	kubevirt_tls_proxy -mode source -listen /path/src.sock -target ADDR:PORT -dir CLIENTDIR
//	kubevirt_tls_proxy -mode target -listen ADDR:PORT -target /path/dst.sock -dir SERVERDIR
//
// Build: GO111MODULE=off go build -o build/kubevirt_tls_proxy ./bench/kubevirt_tls_proxy
package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
)

func verify(pool *x509.CertPool, usage x509.ExtKeyUsage, cn string) func([][]byte, [][]*x509.Certificate) error {
	return func(raw [][]byte, _ [][]*x509.Certificate) error {
		if len(raw) == 0 {
			return errors.New("no peer certificate")
		}
		c, err := x509.ParseCertificate(raw[0])
		if err != nil {
			return err
		}
		if _, err := c.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
			return err
		}
		if c.Subject.CommonName != cn {
			return fmt.Errorf("common name is invalid, got %s", c.Subject.CommonName)
		}
		return nil
	}
}

func pipe(a, b net.Conn) {
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		io.Copy(dst, src)
		if t, ok := dst.(*tls.Conn); ok {
			t.CloseWrite()
		} else if u, ok := dst.(*net.UnixConn); ok {
			u.CloseWrite()
		}
		done <- struct{}{}
	}
	go cp(a, b)
	go cp(b, a)
	<-done
	<-done
	a.Close()
	b.Close()
}

func main() {
	mode := flag.String("mode", "", "source or target")
	listen := flag.String("listen", "", "unix socket path (source) or ADDR:PORT (target)")
	target := flag.String("target", "", "ADDR:PORT (source) or unix socket path (target)")
	dir := flag.String("dir", "", "tls.crt, tls.key, ca.crt")
	flag.Parse()
	cert, err := tls.LoadX509KeyPair(filepath.Join(*dir, "tls.crt"), filepath.Join(*dir, "tls.key"))
	if err != nil {
		log.Fatal(err)
	}
	caPEM, err := os.ReadFile(filepath.Join(*dir, "ca.crt"))
	if err != nil {
		log.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, InsecureSkipVerify: true,
		MinVersion: tls.VersionTLS13}
	var ln net.Listener
	if *mode == "source" {
		cfg.VerifyPeerCertificate = verify(pool, x509.ExtKeyUsageServerAuth,
			"kubevirt.io:system:node:virt-handler")
		ln, err = net.Listen("unix", *listen)
	} else {
		cfg.ClientAuth = tls.RequireAnyClientCert
		cfg.VerifyPeerCertificate = verify(pool, x509.ExtKeyUsageClientAuth,
			"kubevirt.io:system:client:virt-handler")
		ln, err = tls.Listen("tcp", *listen, cfg)
	}
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("listening")
	os.Stdout.Sync()
	for {
		in, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		var out net.Conn
		if *mode == "source" {
			out, err = tls.Dial("tcp", *target, cfg)
		} else {
			if err = in.(*tls.Conn).Handshake(); err == nil {
				out, err = net.Dial("unix", *target)
			}
		}
		if err != nil {
			log.Print(err)
			in.Close()
			continue
		}
		go pipe(in, out)
	}
}
