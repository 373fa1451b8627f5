// SPDX-License-Identifier: GPL-2.0-or-later

// Kernel tests: each makes its own network namespace (root; skipped with
// -short or when namespaces cannot be made).

package meshcap_test

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	meshcap "example.invalid/meshcap/bindings/go"
)

func newEngine(t *testing.T, opts meshcap.EngineOptions) *meshcap.Engine {
	t.Helper()
	if opts.Backend == "iptables-legacy" {
		opts.XtablesLockPath = os.Getenv("MESHCAP_TEST_XTABLES_LOCK")
	}
	e, err := meshcap.NewEngine(opts)
	if err != nil {
		t.Fatalf("NewEngine: %v", err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func TestKernelApplyVerifyClean(t *testing.T) {
	ns := newNetns(t)
	// The goroutine stays on this thread, whose namespace must not change.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before := threadNetns(t)
	p := mustPolicy(t, istioInit)
	e := newEngine(t, meshcap.EngineOptions{Backend: "nftables", NetnsPath: ns.path})
	if e.Backend() != "nftables" {
		t.Errorf("Backend() = %q", e.Backend())
	}
	r, err := e.Apply(p)
	if err != nil || !r.Changed() || r.Backend != "nftables" {
		t.Fatalf("Apply = %+v, %v", r, err)
	}
	if !strings.Contains(ns.run(t, "nft", "list", "tables"), "istio-proxy-nat") {
		t.Error("nft list tables shows no istio-proxy-nat")
	}
	report, err := e.Verify(p)
	if err != nil || !report.Matches() || report.Generation == 0 {
		t.Fatalf("Verify = %+v, %v", report, err)
	}
	if r, err := e.Apply(p); err != nil || r.Changed() {
		t.Errorf("re-Apply = %+v, %v; want unchanged", r, err)
	}
	if r, err := e.Clean(); err != nil || !r.Changed() {
		t.Errorf("Clean = %+v, %v", r, err)
	}
	report, err = e.Verify(p)
	if err != nil || report.Matches() || report.Differences[0].Kind != "missing" ||
		report.Differences[0].String() == "" {
		t.Errorf("Verify after Clean = %+v, %v", report, err)
	}
	if after := threadNetns(t); after != before {
		t.Errorf("the calling thread moved from netns %d to %d", before, after)
	}
	e.Close()
	if _, err := e.Apply(p); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("Apply after Close: %v, want fs.ErrClosed", err)
	}
}

func TestKernelNetnsFileIsBorrowedForTheCallOnly(t *testing.T) {
	ns := newNetns(t)
	f, err := os.Open(ns.path)
	if err != nil {
		t.Fatal(err)
	}
	e := newEngine(t, meshcap.EngineOptions{Backend: "nftables", NetnsFile: f})
	f.Close()
	if _, err := e.Apply(mustPolicy(t, istioInit)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ns.run(t, "nft", "list", "tables"), "istio-proxy-nat") {
		t.Error("not applied in the namespace of the file")
	}
}

func TestKernelIptablesLegacy(t *testing.T) {
	ns := newNetns(t)
	p := mustPolicy(t, istioInit)
	e := newEngine(t, meshcap.EngineOptions{Backend: "iptables-legacy", NetnsPath: ns.path})
	if _, err := e.Apply(p); err != nil {
		t.Fatal(err)
	}
	if out := ns.run(t, "iptables-legacy-save", "-t", "nat"); !strings.Contains(out,
		"-A ISTIO_OUTPUT -j ISTIO_REDIRECT") {
		t.Errorf("iptables-legacy-save:\n%s", out)
	}
	if report, err := e.Verify(p); err != nil || !report.Matches() {
		t.Errorf("Verify = %+v, %v", report, err)
	}
	if _, err := e.Apply(p, meshcap.ExpectGeneration(1)); !errors.Is(err, meshcap.InvalidArgument) {
		t.Errorf("a generation on iptables-legacy: %v", err)
	}
}

func TestKernelConcurrentChangeAborts(t *testing.T) {
	ns := newNetns(t)
	p := mustPolicy(t, istioInit)
	e := newEngine(t, meshcap.EngineOptions{Backend: "nftables", NetnsPath: ns.path})
	report, err := e.Verify(p)
	if err != nil {
		t.Fatal(err)
	}
	ns.run(t, "nft", "add", "table", "inet", "somebody-else")
	_, err = e.Apply(p, meshcap.ExpectGeneration(report.Generation))
	if !errors.Is(err, meshcap.Aborted) || meshcap.CodeOf(err) != meshcap.Aborted {
		t.Fatalf("Apply with a stale generation: %v, want Aborted", err)
	}
	if strings.Contains(ns.run(t, "nft", "list", "tables"), "istio-proxy-nat") {
		t.Error("an aborted apply changed the ruleset")
	}
	report, _ = e.Verify(p)
	if _, err := e.Apply(p, meshcap.ExpectGeneration(report.Generation)); err != nil {
		t.Errorf("Apply with the current generation: %v", err)
	}
}

func TestKernelNoPrivilegeIsPermissionDenied(t *testing.T) {
	ns := newNetns(t)
	ch := make(chan error)
	go func() {
		// Never unlocked: the thread, whose identity changes, is thrown
		// away. Raw syscalls: Go's Setresuid would change every thread.
		runtime.LockOSThread()
		if _, _, e := syscall.RawSyscall(syscall.SYS_SETRESGID, 65534, 65534, 65534); e != 0 {
			ch <- e
			return
		}
		if _, _, e := syscall.RawSyscall(syscall.SYS_SETRESUID, 65534, 65534, 65534); e != 0 {
			ch <- e
			return
		}
		_, err := meshcap.NewEngine(meshcap.EngineOptions{Backend: "nftables", NetnsPath: ns.path})
		ch <- err
	}()
	err := <-ch
	if !errors.Is(err, meshcap.PermissionDenied) || !errors.Is(err, fs.ErrPermission) {
		t.Errorf("NewEngine without privileges: %v, want PermissionDenied", err)
	}
}

func TestKernelValidate(t *testing.T) {
	ns := newNetns(t)
	p := mustPolicy(t, istioInit)
	err := meshcap.Validate(meshcap.ValidateOptions{Policy: p, NetnsPath: ns.path,
		Timeout: 300 * time.Millisecond})
	if !errors.Is(err, meshcap.DeadlineExceeded) || !strings.Contains(err.Error(), "127.0.0.6:15002") {
		t.Errorf("Validate before Apply: %v, want DeadlineExceeded", err)
	}
	e := newEngine(t, meshcap.EngineOptions{Backend: "nftables", NetnsPath: ns.path})
	if _, err := e.Apply(p); err != nil {
		t.Fatal(err)
	}
	if err := meshcap.Validate(meshcap.ValidateOptions{Policy: p, NetnsPath: ns.path}); err != nil {
		t.Errorf("Validate after Apply: %v", err)
	}
	if err := meshcap.Validate(meshcap.ValidateOptions{NetnsFile: ns.file}); err != nil {
		t.Errorf("Validate by file: %v", err)
	}
}

// Any goroutine, any thread: one engine shared by many goroutines, and
// engines of other namespaces at the same time.
func TestKernelGoroutines(t *testing.T) {
	p := mustPolicy(t, istioInit)
	shared := newEngine(t, meshcap.EngineOptions{Backend: "nftables", NetnsPath: newNetns(t).path})
	own := make([]*meshcap.Engine, 4)
	for i := range own {
		own[i] = newEngine(t, meshcap.EngineOptions{NetnsPath: newNetns(t).path})
	}
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < 10; j++ {
				for _, e := range []*meshcap.Engine{shared, own[i%len(own)]} {
					if _, err := e.Apply(p); err != nil {
						errs <- err
						return
					}
					if r, err := e.Verify(p); err != nil || !r.Matches() {
						errs <- err
						return
					}
				}
				runtime.Gosched()
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent use: %v", err)
	}
}

// The default policy captures an application's connection: it lands on the
// proxy's port with the dialled address as its original destination.
func TestKernelCapturedConnection(t *testing.T) {
	ns := newNetns(t)
	// A pod's interface and default route (a veth pair, both ends inside).
	ns.run(t, "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0-peer")
	ns.run(t, "ip", "addr", "add", "203.0.113.2/24", "dev", "eth0")
	ns.run(t, "ip", "link", "set", "eth0", "up")
	ns.run(t, "ip", "link", "set", "eth0-peer", "up")
	ns.run(t, "ip", "route", "add", "default", "via", "203.0.113.1")
	e := newEngine(t, meshcap.EngineOptions{NetnsPath: ns.path})
	if _, err := e.Apply(mustPolicy(t, istioInit)); err != nil {
		t.Fatal(err)
	}
	var proxy net.Listener
	var app net.Conn
	ns.do(t, func() (err error) {
		if proxy, err = net.Listen("tcp4", "127.0.0.1:15001"); err != nil {
			return err
		}
		app, err = net.DialTimeout("tcp4", "198.51.100.10:80", 5*time.Second)
		return err
	})
	defer proxy.Close()
	defer app.Close()
	conn, err := proxy.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	dst, err := originalDst(conn.(*net.TCPConn))
	if err != nil || dst != "198.51.100.10:80" {
		t.Errorf("original destination %q, %v; want 198.51.100.10:80", dst, err)
	}
}

// originalDst reads SO_ORIGINAL_DST (a struct sockaddr_in) of an accepted
// connection.
func originalDst(c *net.TCPConn) (string, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return "", err
	}
	var addr syscall.RawSockaddrInet4
	var serr error
	err = raw.Control(func(fd uintptr) {
		size := uint32(unsafe.Sizeof(addr))
		const soOriginalDst = 80
		_, _, e := syscall.Syscall6(syscall.SYS_GETSOCKOPT, fd, syscall.SOL_IP, soOriginalDst,
			uintptr(unsafe.Pointer(&addr)), uintptr(unsafe.Pointer(&size)), 0)
		if e != 0 {
			serr = e
		}
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return "", err
	}
	port := (*[2]byte)(unsafe.Pointer(&addr.Port)) // network byte order
	return net.JoinHostPort(net.IP(addr.Addr[:]).String(),
		strconv.Itoa(int(port[0])<<8|int(port[1]))), nil
}

func TestKernelWatchHealsAndReports(t *testing.T) {
	ns := newNetns(t)
	p := mustPolicy(t, istioInit)
	e := newEngine(t, meshcap.EngineOptions{Backend: "nftables", NetnsPath: ns.path})
	if err := e.Watch(p, meshcap.WatchOptions{Interval: time.Microsecond}); !errors.Is(err, meshcap.InvalidArgument) {
		t.Errorf("Watch with a 1µs interval: %v, want InvalidArgument", err)
	}
	events := make(chan meshcap.WatchEvent, 16)
	result := make(chan error, 1)
	go func() {
		result <- e.Watch(p, meshcap.WatchOptions{OnEvent: func(ev meshcap.WatchEvent) { events <- ev }})
	}()
	next := func(kind string) meshcap.WatchEvent {
		t.Helper()
		for {
			select {
			case ev := <-events:
				if ev.Kind == kind {
					return ev
				}
			case <-time.After(10 * time.Second):
				e.StopWatch()
				t.Fatalf("no %q event within 10s", kind)
			}
		}
	}
	if ev := next("applied"); !strings.Contains(ev.Message, "watching") {
		t.Errorf("applied event %+v", ev)
	}
	ns.run(t, "nft", "delete", "table", "inet", "istio-proxy-nat")
	ev := next("healed")
	if !strings.HasPrefix(ev.Message, "healed in") || len(ev.Drifted) == 0 ||
		!strings.Contains(ev.Drifted[0], "istio-proxy-nat") || len(ev.Changes) == 0 ||
		ev.Elapsed() <= 0 {
		t.Errorf("healed event %+v", ev)
	}
	e.StopWatch()
	select {
	case err := <-result:
		if err != nil {
			t.Errorf("Watch = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Watch did not return after StopWatch")
	}
	// Stopped: the capture stays.
	if report, err := e.Verify(p); err != nil || !report.Matches() {
		t.Errorf("Verify after the watch = %+v, %v", report, err)
	}
}
