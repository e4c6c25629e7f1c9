// SPDX-License-Identifier: Apache-2.0

// libcni-client drives CNI plugins through libcni itself (Debian's golang-github-appc-cni-dev),
// as a container runtime would, like cnitool:
//
//	libcni-client add|check|del|validate <conflist-file> <netns-path> <ifname> <containerid>
//	libcni-client version <plugin-type>
//
// Environment: CNI_PATH (plugin dirs, ':'-separated; default /opt/cni/bin), LIBCNI_CACHE_DIR
// (libcni's result cache; default a dir under $TMPDIR, never /var/lib/cni), CNI_ARGS
// ("K=V;K=V" passed as RuntimeConf.Args), CAP_ARGS (JSON object: RuntimeConf.CapabilityArgs).
//
// add prints the result JSON; a CNI error prints the error JSON (as the plugin gave it) on
// stdout and exits 1.
//
// Build offline: GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE=$PWD/build/gocache \
//
//	go build -o build/libcni-client ./tests/libcni
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
)

func usage() {
	fmt.Fprintln(os.Stderr, "usage: libcni-client add|check|del|validate <conflist> <netns> <ifname> <containerid>")
	fmt.Fprintln(os.Stderr, "       libcni-client version <plugin-type>")
	os.Exit(2)
}

func fail(err error) {
	var e *types.Error
	if errors.As(err, &e) {
		out, _ := json.Marshal(e)
		fmt.Println(string(out))
	} else {
		out, _ := json.Marshal(map[string]interface{}{"code": 999, "msg": err.Error()})
		fmt.Println(string(out))
	}
	fmt.Fprintln(os.Stderr, "libcni-client:", err)
	os.Exit(1)
}

func main() {
	if len(os.Args) < 3 {
		usage()
	}
	paths := filepath.SplitList(os.Getenv("CNI_PATH"))
	if len(paths) == 0 {
		paths = []string{"/opt/cni/bin"}
	}
	cacheDir := os.Getenv("LIBCNI_CACHE_DIR")
	if cacheDir == "" {
		cacheDir = filepath.Join(os.TempDir(), "libcni-client-cache")
	}
	cninet := libcni.NewCNIConfigWithCacheDir(paths, cacheDir, nil)
	ctx := context.Background()

	if os.Args[1] == "version" {
		info, err := cninet.GetVersionInfo(ctx, os.Args[2])
		if err != nil {
			fail(err)
		}
		out, _ := json.Marshal(map[string]interface{}{"supportedVersions": info.SupportedVersions()})
		fmt.Println(string(out))
		return
	}
	if len(os.Args) != 6 {
		usage()
	}
	list, err := libcni.ConfListFromFile(os.Args[2])
	if err != nil {
		fail(err)
	}
	rt := &libcni.RuntimeConf{
		ContainerID: os.Args[5],
		NetNS:       os.Args[3],
		IfName:      os.Args[4],
	}
	if a := os.Getenv("CNI_ARGS"); a != "" {
		for _, kv := range strings.Split(a, ";") {
			p := strings.SplitN(kv, "=", 2)
			if len(p) == 2 {
				rt.Args = append(rt.Args, [2]string{p[0], p[1]})
			}
		}
	}
	if c := os.Getenv("CAP_ARGS"); c != "" {
		if err := json.Unmarshal([]byte(c), &rt.CapabilityArgs); err != nil {
			fail(fmt.Errorf("CAP_ARGS: %w", err))
		}
	}

	switch os.Args[1] {
	case "add":
		res, err := cninet.AddNetworkList(ctx, list, rt)
		if err != nil {
			fail(err)
		}
		if err := res.Print(); err != nil {
			fail(err)
		}
	case "check":
		if err := cninet.CheckNetworkList(ctx, list, rt); err != nil {
			fail(err)
		}
	case "del":
		if err := cninet.DelNetworkList(ctx, list, rt); err != nil {
			fail(err)
		}
	case "validate":
		caps, err := cninet.ValidateNetworkList(ctx, list)
		if err != nil {
			fail(err)
		}
		out, _ := json.Marshal(map[string]interface{}{"capabilities": caps})
		fmt.Println(string(out))
	default:
		usage()
	}
}
