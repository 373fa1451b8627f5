// SPDX-License-Identifier: GPL-2.0-or-later

// Package harness runs meshcap-cni as a container runtime does: through
// libcni (Debian's golang-github-appc-cni-dev, GOPATH mode), chained after
// the reference plugins (loopback, bridge with host-local, from Debian's
// containernetworking-plugins) for a pod in a named network namespace.
//
// The test binary re-executes itself inside its own mount and network
// namespaces, which play the node: /run is a private tmpfs (so /run/netns,
// /run/meshcap and /run/xtables.lock are the node's own), libcni's cache
// and host-local's leases live there too, and the machine's links, rules,
// /run, /var/lib/cni and /etc/cni are never touched.
//
// For each backend and profile: ADD (and VERSION through
// ValidateNetworkList), real connections through the bridge, CHECK, CHECK
// after drift, DEL twice and DEL after the namespace is gone. After each
// DEL nothing of ours is left: no rules, no state files, and no policy
// routing (no rule or route of protocol 109 in either family, no ::6 on
// lo); a TPROXY sidecar with IPv6, which has the most of it, is checked
// for that as well.
package harness

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"golang.org/x/sys/unix"
)

var (
	pluginDir    = flag.String("plugin-dir", "", "the directory holding meshcap-cni")
	referenceDir = flag.String("reference-dir", "/usr/lib/cni", "the reference plugins")
)

const (
	innerEnv   = "MESHCAP_CNI_HARNESS_INNER"
	network    = "meshnet"
	bridgeName = "mcbr0"
	gateway    = "203.0.113.1"
	subnet     = "203.0.113.0/24"
	// An address beyond the node: the pod's default route sends it over the
	// bridge.
	remote    = "198.51.100.10"
	stateRoot = "/run/meshcap"
	cacheDir  = "/run/cni-cache"
	ipamDir   = "/run/cni-ipam"
	logFile   = "/run/meshcap-cni.log"
)

// TestMain re-executes the test binary under `unshare --mount --net`, and
// inside sets the node up. Without root it exits with status 77 (skipped),
// as every kernel test skips; as root, a missing tool, a failed unshare or
// a node that cannot be set up is a failure that says so (meson registers
// this test only where dev/setup-debian.sh's packages are, so none of
// that may pass unseen).
func TestMain(m *testing.M) {
	flag.Parse()
	if os.Getenv(innerEnv) != "1" {
		if os.Geteuid() != 0 {
			fmt.Fprintln(os.Stderr, "SKIP: needs root (namespaces, netfilter)")
			os.Exit(77)
		}
		var missing []string
		for _, tool := range []string{"unshare", "ip", "nft", "iptables-legacy",
			"iptables-legacy-save", "ip6tables-legacy-save"} {
			if _, err := exec.LookPath(tool); err != nil {
				missing = append(missing, tool)
			}
		}
		if len(missing) != 0 {
			fmt.Fprintf(os.Stderr, "FAIL: the harness needs %s (util-linux, iproute2, nftables, iptables; dev/setup-debian.sh installs them)\n",
				strings.Join(missing, ", "))
			os.Exit(1)
		}
		self, err := os.Executable()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		cmd := exec.Command("unshare", append([]string{"--mount", "--net",
			"--propagation", "private", "--", self}, os.Args[1:]...)...)
		cmd.Env = append(os.Environ(), innerEnv+"=1")
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				os.Exit(exit.ExitCode())
			}
			fmt.Fprintln(os.Stderr, "FAIL: cannot unshare the node's mount and network namespaces:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if err := setUpNode(); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: cannot set up the node:", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// namespaces names the network and mount namespaces of process pid; empty
// when either cannot be read.
func namespaces(pid int) []string {
	var out []string
	for _, ns := range []string{"net", "mnt"} {
		name, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, ns))
		if err != nil || name == "" {
			return nil
		}
		out = append(out, name)
	}
	return out
}

func setUpNode() error {
	// The namespaces we are in must be new ones, never the machine's: not
	// those of the process that started us (the outer test binary, which
	// waits for us), whatever the environment says.
	ours, parents := namespaces(os.Getpid()), namespaces(os.Getppid())
	if ours == nil || parents == nil || ours[0] == parents[0] || ours[1] == parents[1] {
		return fmt.Errorf("not in network and mount namespaces of our own: %q, parent %q", ours, parents)
	}
	// mount(2) itself, not mount(8): libmount would keep its table under
	// the machine's /run before ours covers it.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making / private: %v", err)
	}
	if err := unix.Mount("tmpfs", "/run", "tmpfs", 0, "mode=0755"); err != nil {
		return fmt.Errorf("mounting a tmpfs on /run: %v", err)
	}
	// Should anything fall back to the default cache directory.
	if st, err := os.Stat("/var/lib/cni"); err == nil && st.IsDir() {
		if err := unix.Mount("tmpfs", "/var/lib/cni", "tmpfs", 0, ""); err != nil {
			return fmt.Errorf("mounting a tmpfs on /var/lib/cni: %v", err)
		}
	}
	if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		return fmt.Errorf("lo up: %v: %s", err, out)
	}
	for _, d := range []string{"/run/netns", cacheDir, ipamDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	// meshcap-cni's state is the node's /run/meshcap, its default.
	os.Unsetenv("MESHCAP_STATE_DIR")
	os.Unsetenv("XTABLES_LOCKFILE")
	os.Unsetenv("MESHCAP_BACKEND")
	return nil
}

func conflist(backend, profile string) []byte {
	policy := `{}`
	if profile == "sidecar" {
		policy = `{"OutboundIPRangesInclude": "*", "InboundPortsInclude": "*",
		           "InboundPortsExclude": "15090,15021,15020"}`
	}
	return conflistWith(backend, profile, policy)
}

func conflistWith(backend, profile, policy string) []byte {
	return []byte(fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": %q,
  "plugins": [
    {"type": "loopback"},
    {"type": "bridge", "bridge": %q, "isGateway": true,
     "isDefaultGateway": true, "ipMasq": false,
     "ipam": {"type": "host-local", "subnet": %q, "dataDir": %q}},
    {"type": "meshcap-cni", "podSelection": "all",
     "profile": %q, "backend": %q,
     "policy": %s,
     "excludeNamespaces": ["kube-system"],
     "logLevel": "debug", "logFile": %q,
     "capabilities": {"meshcap": true}}
  ]
}`, network, bridgeName, subnet, ipamDir, profile, backend, policy, logFile))
}

type pod struct {
	t     *testing.T
	name  string
	netns string
	rt    *libcni.RuntimeConf
}

var podCount int

func newPod(t *testing.T, namespace string, capabilityArgs map[string]interface{}) *pod {
	t.Helper()
	podCount++
	p := &pod{t: t, name: fmt.Sprintf("pod%d", podCount)}
	run(t, "ip", "netns", "add", p.name)
	p.netns = "/run/netns/" + p.name
	p.rt = &libcni.RuntimeConf{
		ContainerID: fmt.Sprintf("ctr%d", podCount),
		NetNS:       p.netns,
		IfName:      "eth0",
		Args: [][2]string{
			{"IgnoreUnknown", "1"},
			{"K8S_POD_NAMESPACE", namespace},
			{"K8S_POD_NAME", p.name},
			{"K8S_POD_INFRA_CONTAINER_ID", fmt.Sprintf("ctr%d", podCount)},
		},
		CapabilityArgs: capabilityArgs,
	}
	return p
}

func (p *pod) destroy() {
	exec.Command("ip", "netns", "del", p.name).Run()
}

// In the pod's namespace, via ip netns exec.
func (p *pod) shell(args ...string) string {
	p.t.Helper()
	out, err := exec.Command("ip", append([]string{"netns", "exec", p.name}, args...)...).CombinedOutput()
	if err != nil {
		p.t.Fatalf("%v: %v: %s", args, err, out)
	}
	return string(out)
}

func (p *pod) ruleset(backend string) string {
	if backend == "nftables" {
		return p.shell("nft", "list", "ruleset")
	}
	return p.shell("iptables-legacy-save") + p.shell("ip6tables-legacy-save")
}

// policyRouting lists what of meshcap's policy routing the pod holds:
// every rule and route of protocol 109 (docs/backends.md "Policy routing"), in
// both families and all tables, and the ::6 address on lo, one line each,
// prefixed with the command that showed it.
func (p *pod) policyRouting() []string {
	var found []string
	for _, args := range [][]string{
		{"ip", "rule"},
		{"ip", "-6", "rule"},
		{"ip", "route", "show", "table", "all"},
		{"ip", "-6", "route", "show", "table", "all"},
		{"ip", "-6", "addr", "show", "dev", "lo"},
	} {
		for _, line := range strings.Split(p.shell(args...), "\n") {
			line = strings.TrimSpace(line)
			fields := strings.Fields(line)
			ours := false
			for i, f := range fields {
				ours = ours || (f == "proto" && i+1 < len(fields) && fields[i+1] == "109") ||
					f == "::6/128"
			}
			if ours {
				if args[len(args)-1] == "rule" {
					// Without the priority ("32764:\t"), which is the kernel's pick.
					line = strings.Join(fields[1:], " ")
				}
				found = append(found, strings.Join(args, " ")+": "+line)
			}
		}
	}
	return found
}

// expectRouting fails unless the pod's policy routing holds every line
// of want (each a substring of one line of policyRouting); with want
// empty, unless it holds nothing of ours at all.
func expectRouting(t *testing.T, p *pod, when string, want []string) {
	t.Helper()
	got := p.policyRouting()
	if len(want) == 0 {
		if len(got) != 0 {
			t.Errorf("%s the pod still holds policy routing of ours:\n%s", when, strings.Join(got, "\n"))
		}
		return
	}
	all := strings.Join(got, "\n")
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("%s the pod's policy routing has no %q; it holds:\n%s", when, w, all)
		}
	}
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v: %s", name, args, err, out)
	}
}

// inNetns runs f on a thread inside the namespace at path. The thread is
// never given back to the Go scheduler (it ends with the goroutine), so no
// other goroutine ever runs in that namespace by accident. Sockets made by
// f stay in the namespace.
func inNetns(path string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer syscall.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %v", path, err)
			return
		}
		errc <- f()
	}()
	return <-errc
}

// originalDst is SO_ORIGINAL_DST of an accepted IPv4 connection.
func originalDst(c net.Conn) (string, error) {
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		return "", err
	}
	var addr string
	var serr error
	err = raw.Control(func(fd uintptr) {
		const soOriginalDst = 80
		m, e := syscall.GetsockoptIPv6Mreq(int(fd), syscall.IPPROTO_IP, soOriginalDst)
		if e != nil {
			serr = e
			return
		}
		a := m.Multiaddr
		addr = fmt.Sprintf("%d.%d.%d.%d:%d", a[4], a[5], a[6], a[7], int(a[2])<<8|int(a[3]))
	})
	if err != nil {
		return "", err
	}
	return addr, serr
}

// accepted is what a listener saw of one connection.
type accepted struct {
	local, remote, origDst, data string
	// err: the accept failed; origErr: the connection has no original
	// destination (it was not redirected).
	err, origErr error
}

// acceptOne accepts one connection on l (within 5 s), reads what the
// client sent and answers "ack".
func acceptOne(l net.Listener) <-chan accepted {
	ch := make(chan accepted, 1)
	go func() {
		l.(*net.TCPListener).SetDeadline(time.Now().Add(5 * time.Second))
		c, err := l.Accept()
		if err != nil {
			ch <- accepted{err: err}
			return
		}
		defer c.Close()
		a := accepted{local: c.LocalAddr().String(), remote: c.RemoteAddr().String()}
		a.origDst, a.origErr = originalDst(c)
		c.SetDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 64)
		n, _ := c.Read(buf)
		a.data = string(buf[:n])
		c.Write([]byte("ack"))
		ch <- a
	}()
	return ch
}

// dial connects to addr from the current thread's namespace, sends
// "hello" and reads the answer. mark, when not 0, is the socket's SO_MARK.
func dial(addr string, mark int) error {
	d := net.Dialer{Timeout: 5 * time.Second}
	if mark != 0 {
		d.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_MARK, mark)
			})
			return serr
		}
	}
	c, err := d.Dial("tcp4", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("hello")); err != nil {
		return err
	}
	buf := make([]byte, 3)
	if _, err := io.ReadFull(c, buf); err != nil {
		return fmt.Errorf("reading the answer: %v", err)
	}
	if string(buf) != "ack" {
		return fmt.Errorf("answer %q", buf)
	}
	return nil
}

func listenIn(t *testing.T, netns, addr string) net.Listener {
	t.Helper()
	var l net.Listener
	if err := inNetns(netns, func() (err error) {
		l, err = net.Listen("tcp4", addr)
		return err
	}); err != nil {
		t.Fatalf("listen %s in %s: %v", addr, netns, err)
	}
	return l
}

// expectCaptured: a connection from the pod to dst lands on the pod's
// listener l with dst as its original destination.
func expectCaptured(t *testing.T, p *pod, l net.Listener, dst string) {
	t.Helper()
	got := acceptOne(l)
	if err := inNetns(p.netns, func() error { return dial(dst, 0) }); err != nil {
		t.Fatalf("dialling %s from the pod: %v", dst, err)
	}
	a := <-got
	if a.err != nil || a.origErr != nil {
		t.Fatalf("the proxy's listener: %v, original destination: %v", a.err, a.origErr)
	}
	if a.origDst != dst || a.data != "hello" {
		t.Errorf("captured %s -> %s (original destination %s, data %q); want original destination %s",
			a.remote, a.local, a.origDst, a.data, dst)
	}
}

func podIP(t *testing.T, p *pod, res types.Result) string {
	t.Helper()
	r, err := types100.NewResultFromResult(res)
	if err != nil {
		t.Fatalf("result: %v", err)
	}
	if len(r.IPs) != 1 || !strings.HasPrefix(r.IPs[0].Address.String(), "203.0.113.") {
		t.Fatalf("result IPs %v: want one address from the bridge's %s (prevResult passed through)", r.IPs, subnet)
	}
	sawEth0 := false
	for _, i := range r.Interfaces {
		sawEth0 = sawEth0 || (i.Name == "eth0" && i.Sandbox == p.netns)
	}
	if !sawEth0 {
		t.Fatalf("result interfaces %+v: no eth0 in %s (prevResult passed through)", r.Interfaces, p.netns)
	}
	return r.IPs[0].Address.IP.String()
}

// stateFiles lists the files under /run/meshcap that record something:
// not its directories, which stay (so that no ADD finds its directory
// removed under it), nor the pods' xtables lock file.
func stateFiles() []string {
	var files []string
	filepath.Walk(stateRoot, func(path string, info os.FileInfo, err error) error {
		rel := strings.TrimPrefix(path, stateRoot+"/")
		if err == nil && !info.IsDir() && rel != "cni/xtables.lock" {
			files = append(files, rel)
		}
		return nil
	})
	return files
}

func cniConfig() *libcni.CNIConfig {
	return libcni.NewCNIConfigWithCacheDir([]string{*pluginDir, *referenceDir}, cacheDir, nil)
}

// haveBackend: TestMain has made sure the tools that read each backend's
// ruleset are there; this stays as a guard for a -test.run by hand.
func haveBackend(t *testing.T, backend string) {
	tool := map[string]string{"nftables": "nft", "iptables-legacy": "iptables-legacy-save"}[backend]
	if _, err := exec.LookPath(tool); err != nil {
		t.Fatalf("no %s", tool)
	}
}

func TestChain(t *testing.T) {
	if *pluginDir == "" {
		t.Fatal("-plugin-dir is required")
	}
	for _, backend := range []string{"nftables", "iptables-legacy"} {
		for _, profile := range []string{"sidecar", "ambient"} {
			backend, profile := backend, profile
			t.Run(backend+"/"+profile, func(t *testing.T) {
				haveBackend(t, backend)
				testChain(t, backend, profile)
			})
		}
	}
}

func testChain(t *testing.T, backend, profile string) {
	ctx := context.Background()
	cni := cniConfig()
	list, err := libcni.ConfListFromBytes(conflist(backend, profile))
	if err != nil {
		t.Fatal(err)
	}
	// VERSION of every plugin, through libcni.
	if _, err := cni.ValidateNetworkList(ctx, list); err != nil {
		t.Fatalf("ValidateNetworkList: %v", err)
	}

	// Per pod, through the runtime's capability arguments: the sidecar
	// leaves the node's port 9090 alone.
	var capArgs map[string]interface{}
	if profile == "sidecar" {
		capArgs = map[string]interface{}{
			"meshcap": map[string]interface{}{
				"policy": map[string]interface{}{"OutboundPortsExclude": "9090"},
			},
		}
	}
	p := newPod(t, "shop", capArgs)
	defer p.destroy()

	res, err := cni.AddNetworkList(ctx, list, p.rt)
	if err != nil {
		t.Fatalf("ADD: %v", err)
	}
	// Should a check below stop the test, the next one starts clean.
	deleted := false
	defer func() {
		if !deleted {
			cni.DelNetworkList(ctx, list, p.rt)
		}
	}()
	ip := podIP(t, p, res)
	rules := p.ruleset(backend)
	want := map[string]string{"nftables": "table inet istio-", "iptables-legacy": "ISTIO_"}[backend]
	if !strings.Contains(rules, want) {
		t.Fatalf("after ADD the pod's %s ruleset has no %q:\n%s", backend, want, rules)
	}
	// Ambient: the replies of connections ztunnel delivered go back
	// through table 100 (docs/cli.md "Ambient"). A REDIRECT sidecar without
	// IPv6 has no policy routing at all.
	routing := map[string][]string{
		"ambient": {
			"ip rule: from all fwmark 0x111/0xfff lookup 100 proto 109",
			"ip -6 rule: from all fwmark 0x111/0xfff lookup 100 proto 109",
			"ip route show table all: local default dev lo table 100 proto 109",
			"ip -6 route show table all: local default dev lo table 100 proto 109",
		},
	}[profile]
	if routing != nil {
		expectRouting(t, p, "after ADD", routing)
	} else {
		t.Logf("after ADD the pod's policy routing of ours: %q", p.policyRouting())
	}

	// Outbound: to an address beyond the bridge and to the node's own
	// address on the bridge, both land on the pod's 15001 with their
	// original destination.
	out := listenIn(t, p.netns, "0.0.0.0:15001")
	defer out.Close()
	expectCaptured(t, p, out, remote+":80")
	expectCaptured(t, p, out, gateway+":9091")

	// What the policy exempts goes through the bridge to the node.
	node, err := net.Listen("tcp4", gateway+":9090")
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	got := acceptOne(node)
	mark := 0
	if profile == "ambient" {
		mark = 0x539 // ztunnel's own mark is never captured
	}
	if err := inNetns(p.netns, func() error { return dial(gateway+":9090", mark) }); err != nil {
		t.Fatalf("exempt connection to the node: %v", err)
	}
	// Straight from the pod's address, and never redirected: the node's
	// conntrack has no original destination for it.
	if a := <-got; a.err != nil || a.local != gateway+":9090" ||
		!strings.HasPrefix(a.remote, ip+":") || a.data != "hello" ||
		!errors.Is(a.origErr, syscall.ENOENT) {
		t.Errorf("exempt connection reached the node as %+v; want %s -> %s:9090 unredirected", a, ip, gateway)
	}

	// Inbound: the node connects to the pod's address over the bridge; it
	// lands on the pod's 15006 with its original destination.
	in := listenIn(t, p.netns, "0.0.0.0:15006")
	defer in.Close()
	got = acceptOne(in)
	if err := dial(ip+":8080", 0); err != nil {
		t.Fatalf("inbound connection: %v", err)
	}
	if a := <-got; a.err != nil || a.origErr != nil || a.origDst != ip+":8080" || a.data != "hello" {
		t.Errorf("inbound landed as %+v; want original destination %s:8080", a, ip)
	}

	// CHECK through the whole chain.
	if err := cni.CheckNetworkList(ctx, list, p.rt); err != nil {
		t.Fatalf("CHECK: %v", err)
	}

	// Drift: the rule that sends outbound to the proxy disappears.
	if backend == "nftables" {
		table := map[string]string{"sidecar": "istio-proxy-nat", "ambient": "istio-ambient-nat"}[profile]
		p.shell("nft", "flush", "chain", "inet", table, "istio-output")
	} else {
		p.shell("iptables-legacy", "-t", "nat", "-F", "ISTIO_OUTPUT")
	}
	err = cni.CheckNetworkList(ctx, list, p.rt)
	var cniErr *types.Error
	if !errors.As(err, &cniErr) {
		t.Fatalf("CHECK after drift: %v; want a CNI error", err)
	}
	if cniErr.Code != 103 || !strings.Contains(cniErr.Msg, "drifted ("+backend+")") ||
		!strings.Contains(cniErr.Msg, "missing rule 1 in") {
		t.Errorf("CHECK after drift: code %d msg %q; want 103 naming the missing rule", cniErr.Code, cniErr.Msg)
	}

	// DEL: nothing of ours in the pod or under /run/meshcap; twice.
	for i := 0; i < 2; i++ {
		if err := cni.DelNetworkList(ctx, list, p.rt); err != nil {
			t.Fatalf("DEL %d: %v", i+1, err)
		}
		if rules := p.ruleset(backend); strings.Contains(rules, "istio") || strings.Contains(rules, "ISTIO") {
			t.Errorf("after DEL %d the pod still holds:\n%s", i+1, rules)
		}
		expectRouting(t, p, fmt.Sprintf("after DEL %d", i+1), nil)
		if files := stateFiles(); len(files) != 0 {
			t.Errorf("after DEL %d /run/meshcap holds %v", i+1, files)
		}
	}
	deleted = true
	// And once the namespace is gone.
	p.destroy()
	if err := cni.DelNetworkList(ctx, list, p.rt); err != nil {
		t.Fatalf("DEL after the namespace is gone: %v", err)
	}
}

// A pod of an excluded namespace goes through the chain untouched.
func TestExcludedNamespace(t *testing.T) {
	haveBackend(t, "nftables")
	ctx := context.Background()
	cni := cniConfig()
	list, err := libcni.ConfListFromBytes(conflist("nftables", "sidecar"))
	if err != nil {
		t.Fatal(err)
	}
	p := newPod(t, "kube-system", nil)
	defer p.destroy()
	res, err := cni.AddNetworkList(ctx, list, p.rt)
	if err != nil {
		t.Fatalf("ADD: %v", err)
	}
	podIP(t, p, res)
	if rules := p.ruleset("nftables"); rules != "" {
		t.Errorf("an excluded pod got rules:\n%s", rules)
	}
	if files := stateFiles(); len(files) != 0 {
		t.Errorf("/run/meshcap holds %v", files)
	}
	if err := cni.CheckNetworkList(ctx, list, p.rt); err != nil {
		t.Errorf("CHECK: %v", err)
	}
	if err := cni.DelNetworkList(ctx, list, p.rt); err != nil {
		t.Errorf("DEL: %v", err)
	}
}

// A TPROXY sidecar with IPv6 has the most policy routing of all: fwmark
// 0x539 lookup 133 and a local default route in table 133, in both
// families, and ::6 on lo. ADD installs it, CHECK accepts it, DEL takes
// all of it away (no traffic here: the chain test covers that).
func TestTproxyRouting(t *testing.T) {
	for _, backend := range []string{"nftables", "iptables-legacy"} {
		backend := backend
		t.Run(backend, func(t *testing.T) {
			haveBackend(t, backend)
			ctx := context.Background()
			cni := cniConfig()
			list, err := libcni.ConfListFromBytes(conflistWith(backend, "sidecar",
				`{"InboundInterceptionMode": "TPROXY", "OutboundIPRangesInclude": "*",
				  "InboundPortsInclude": "*", "EnableIPv6": true}`))
			if err != nil {
				t.Fatal(err)
			}
			p := newPod(t, "shop", nil)
			defer p.destroy()
			if _, err := cni.AddNetworkList(ctx, list, p.rt); err != nil {
				t.Fatalf("ADD: %v", err)
			}
			deleted := false
			defer func() {
				if !deleted {
					cni.DelNetworkList(ctx, list, p.rt)
				}
			}()
			expectRouting(t, p, "after ADD", []string{
				"ip rule: from all fwmark 0x539 lookup 133 proto 109",
				"ip -6 rule: from all fwmark 0x539 lookup 133 proto 109",
				"ip route show table all: local default dev lo table 133 proto 109",
				"ip -6 route show table all: local default dev lo table 133 proto 109",
				"ip -6 addr show dev lo: inet6 ::6/128",
			})
			if err := cni.CheckNetworkList(ctx, list, p.rt); err != nil {
				t.Fatalf("CHECK: %v", err)
			}
			for i := 0; i < 2; i++ {
				if err := cni.DelNetworkList(ctx, list, p.rt); err != nil {
					t.Fatalf("DEL %d: %v", i+1, err)
				}
				expectRouting(t, p, fmt.Sprintf("after DEL %d", i+1), nil)
				if rules := p.ruleset(backend); strings.Contains(rules, "istio") || strings.Contains(rules, "ISTIO") {
					t.Errorf("after DEL %d the pod still holds:\n%s", i+1, rules)
				}
				if files := stateFiles(); len(files) != 0 {
					t.Errorf("after DEL %d /run/meshcap holds %v", i+1, files)
				}
			}
			deleted = true
		})
	}
}
