module mignet/bench/kubevirt-proxy

go 1.19
