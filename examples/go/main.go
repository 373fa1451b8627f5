// SPDX-License-Identifier: GPL-2.0-or-later

// Command capture applies istio-init's default capture to a network
// namespace given by path, checks it, and shows a captured connection:
// inside the namespace, a connection dialled to 198.51.100.10:80 is accepted
// by a "proxy" listening on 127.0.0.1:15001, which reads the address the
// application dialled with SO_ORIGINAL_DST.
//
//	go run . /var/run/netns/pod      (as root)
//
// The namespace needs a route to 198.51.100.10, as a pod has (eth0 and a
// default route); examples/run_example.sh makes such a namespace.
package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"time"
	"unsafe"

	meshcap "example.invalid/meshcap/bindings/go"
)

const policyJSON = `{"OutboundIPRangesInclude": "*", "InboundPortsInclude": "*",
	"InboundPortsExclude": "15090,15021,15020"}`

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintf(os.Stderr, "usage: %s NETNS_PATH\n", os.Args[0])
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintf(os.Stderr, "capture: %v (%v)\n", err, meshcap.CodeOf(err))
		os.Exit(1)
	}
}

func run(netnsPath string) error {
	policy, err := meshcap.PolicyFromJSON(policyJSON)
	if err != nil {
		return err
	}
	// meshcap enters the namespace on a thread of its own: no goroutine of
	// this program changes namespace for it.
	engine, err := meshcap.NewEngine(meshcap.EngineOptions{NetnsPath: netnsPath})
	if err != nil {
		return err
	}
	defer engine.Close()
	result, err := engine.Apply(policy)
	if err != nil {
		return err
	}
	state := "already in place"
	if result.Changed() {
		state = "changed"
	}
	fmt.Printf("meshcap %s: applied the istio-init policy to %s (%s, %s)\n",
		meshcap.Version(), netnsPath, engine.Backend(), state)
	report, err := engine.Verify(policy)
	if err != nil {
		return err
	}
	if report.Matches() {
		fmt.Println("verify: the kernel holds exactly the policy")
	} else {
		fmt.Println("verify: the kernel differs from the policy")
	}
	// Why the connection dialled below is captured, from the policy alone:
	// the rule that decides, in the backend's words.
	uid := uint32(1000)
	why, err := meshcap.Explain(policy, meshcap.Packet{Dst: "198.51.100.10:80", UID: &uid}, engine.Backend())
	if err != nil {
		return err
	}
	fmt.Println("explain: " + why.Summary)

	proxy, app, err := socketsIn(netnsPath)
	if err != nil {
		return err
	}
	defer proxy.Close()
	defer app.Close()
	conn, err := proxy.Accept()
	if err != nil {
		return err
	}
	defer conn.Close()
	dst, err := originalDst(conn.(*net.TCPConn))
	if err != nil {
		return fmt.Errorf("SO_ORIGINAL_DST: %w", err)
	}
	fmt.Printf("dialled 198.51.100.10:80; the proxy on 127.0.0.1:15001 accepted it; "+
		"original destination (SO_ORIGINAL_DST): %s\n", dst)
	return nil
}

// socketsIn makes the proxy's listener and the application's connection
// inside the namespace, on an OS thread that enters it and is then thrown
// away (a socket belongs to the namespace it was made in).
func socketsIn(netnsPath string) (net.Listener, net.Conn, error) {
	type result struct {
		proxy net.Listener
		app   net.Conn
		err   error
	}
	ch := make(chan result)
	go func() {
		// Never unlocked: the runtime ends the thread with the goroutine.
		runtime.LockOSThread()
		var r result
		defer func() { ch <- r }()
		f, err := os.Open(netnsPath)
		if err != nil {
			r.err = err
			return
		}
		defer f.Close()
		if _, _, e := syscall.RawSyscall(sysSetns(), f.Fd(), syscall.CLONE_NEWNET, 0); e != 0 {
			r.err = fmt.Errorf("setns %s: %w", netnsPath, e)
			return
		}
		if r.proxy, r.err = net.Listen("tcp4", "127.0.0.1:15001"); r.err != nil {
			return
		}
		if r.app, r.err = net.DialTimeout("tcp4", "198.51.100.10:80", 5*time.Second); r.err != nil {
			r.proxy.Close()
		}
	}()
	r := <-ch
	return r.proxy, r.app, r.err
}

// originalDst reads SO_ORIGINAL_DST (<linux/netfilter_ipv4.h>): the
// address the application dialled, before the capture rules redirected it.
func originalDst(c *net.TCPConn) (string, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return "", err
	}
	const soOriginalDst = 80
	var addr syscall.RawSockaddrInet4
	size := uint32(unsafe.Sizeof(addr))
	var errno syscall.Errno
	if err := raw.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall6(syscall.SYS_GETSOCKOPT, fd, syscall.SOL_IP,
			soOriginalDst, uintptr(unsafe.Pointer(&addr)), uintptr(unsafe.Pointer(&size)), 0)
	}); err != nil {
		return "", err
	}
	if errno != 0 {
		return "", errors.New(errno.Error())
	}
	port := (*[2]byte)(unsafe.Pointer(&addr.Port)) // network byte order
	return net.JoinHostPort(net.IP(addr.Addr[:]).String(),
		strconv.Itoa(int(port[0])<<8|int(port[1]))), nil
}

// sysSetns is setns(2)'s number, which package syscall does not define.
func sysSetns() uintptr {
	switch runtime.GOARCH {
	case "amd64":
		return 308
	case "386":
		return 346
	case "arm":
		return 375
	case "ppc64", "ppc64le":
		return 350
	case "s390x":
		return 339
	}
	return 268 // the asm-generic table: arm64, riscv64, loong64
}
