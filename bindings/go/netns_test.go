// SPDX-License-Identifier: GPL-2.0-or-later

package meshcap_test

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"testing"
	"unsafe"
)

// netns is a fresh network namespace with lo up, held by a file of this
// process. It is made on an OS thread that is thrown away afterwards, so
// no thread of the test ever lives in it.
type netns struct {
	file *os.File
	path string // opens it from this process and from children
}

// newNetns makes one for a kernel test, or skips the test (-short, or not
// allowed to).
func newNetns(t *testing.T) *netns {
	t.Helper()
	if testing.Short() {
		t.Skip("kernel test; run without -short, as root")
	}
	type result struct {
		f   *os.File
		err error
	}
	ch := make(chan result)
	go func() {
		// Never unlocked: the runtime ends the thread with the goroutine.
		runtime.LockOSThread()
		if err := syscall.Unshare(syscall.CLONE_NEWNET); err != nil {
			ch <- result{err: fmt.Errorf("unshare(CLONE_NEWNET): %w", err)}
			return
		}
		if err := loopbackUp(); err != nil {
			ch <- result{err: err}
			return
		}
		f, err := os.Open("/proc/thread-self/ns/net")
		ch <- result{f, err}
	}()
	r := <-ch
	if r.err != nil {
		t.Skipf("cannot create a network namespace: %v", r.err)
	}
	ns := &netns{
		file: r.f,
		path: fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), r.f.Fd()),
	}
	t.Cleanup(func() { ns.file.Close() })
	return ns
}

// loopbackUp sets lo up in the calling thread's namespace.
func loopbackUp() error {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	var ifr struct {
		name  [16]byte
		flags uint16
		_     [22]byte
	}
	copy(ifr.name[:], "lo")
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.SIOCGIFFLAGS, uintptr(unsafe.Pointer(&ifr))); e != 0 {
		return fmt.Errorf("SIOCGIFFLAGS: %w", e)
	}
	ifr.flags |= syscall.IFF_UP
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.SIOCSIFFLAGS, uintptr(unsafe.Pointer(&ifr))); e != 0 {
		return fmt.Errorf("SIOCSIFFLAGS: %w", e)
	}
	return nil
}

// run runs a command inside the namespace and returns its output.
func (ns *netns) run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("nsenter", append([]string{"--net=" + ns.path}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %v: %s", args, err, out)
	}
	return string(out)
}

// do runs fn on an OS thread that entered the namespace (sockets it makes
// stay there), then throws the thread away.
func (ns *netns) do(t *testing.T, fn func() error) {
	t.Helper()
	ch := make(chan error)
	go func() {
		runtime.LockOSThread()
		if _, _, e := syscall.RawSyscall(sysSetns(), ns.file.Fd(), syscall.CLONE_NEWNET, 0); e != 0 {
			ch <- fmt.Errorf("setns: %w", e)
			return
		}
		ch <- fn()
	}()
	if err := <-ch; err != nil {
		t.Fatal(err)
	}
}

// threadNetns identifies the namespace of the calling goroutine's thread
// (lock the thread first).
func threadNetns(t *testing.T) uint64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat("/proc/thread-self/ns/net", &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
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
