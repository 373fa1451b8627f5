// SPDX-License-Identifier: GPL-2.0-or-later

package meshcap

/*
#include <meshcap/meshcap_c.h>
*/
import "C"

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"sync"
	"time"
)

// EngineOptions says which backend and which network namespace an Engine
// works on. The zero value is the automatic backend in the process's own
// namespace.
type EngineOptions struct {
	// "nftables", "iptables-legacy", or "auto" ("" too): $MESHCAP_BACKEND
	// when set, else the backend already holding meshcap's rules, else
	// Istio's detection.
	Backend string
	// The target namespace by path ("/proc/PID/ns/net",
	// "/var/run/netns/NAME"), or by an open file (used only while the
	// Engine is made). Neither: the namespace of the OS thread NewEngine
	// runs on, which is the process's unless the program moved threads.
	NetnsPath string
	NetnsFile *os.File
	// iptables-legacy: the xtables lock file. "": $XTABLES_LOCKFILE, else
	// /run/xtables.lock.
	XtablesLockPath string
	// Where meshcap keeps its per-namespace locks and intent records. "":
	// $MESHCAP_STATE_DIR, else /run/meshcap.
	StateDir string
	// How long to wait for the namespace's lock and the xtables lock; a lock
	// still held then is DeadlineExceeded. 0: 30s.
	LockTimeout time.Duration
}

// Engine installs, checks and removes a policy's capture in one network
// namespace, with one backend. It is safe for concurrent use: calls take
// turns. It holds a netlink socket and a thread of the library's until
// Close.
type Engine struct {
	mu      sync.Mutex
	e       *C.meshcap_engine
	backend string
	// The handle for StopWatch, which must not wait for mu (a Watch holds
	// it); cleared by Close under stopMu before the engine is freed.
	stopMu     sync.Mutex
	stopHandle *C.meshcap_engine
}

// NewEngine opens the namespace and picks the backend. A namespace path
// that does not exist is NotFound (and fs.ErrNotExist); an unknown backend
// or a file that is not a network namespace InvalidArgument; no privilege
// to enter the namespace PermissionDenied (and fs.ErrPermission).
func NewEngine(opts EngineOptions) (*Engine, error) {
	var cs cStrings
	defer cs.free()
	var o C.meshcap_engine_options
	C.meshcap_engine_options_init(&o)
	o.backend = cs.optional(opts.Backend)
	o.netns_path = cs.optional(opts.NetnsPath)
	if opts.NetnsFile != nil {
		o.netns_fd = C.int32_t(opts.NetnsFile.Fd())
	}
	o.xtables_lock_path = cs.optional(opts.XtablesLockPath)
	o.state_dir = cs.optional(opts.StateDir)
	if opts.LockTimeout > 0 {
		o.lock_timeout_ms = C.int64_t(opts.LockTimeout.Milliseconds())
	}
	var ce *C.meshcap_engine
	var msg *C.char
	rc := C.meshcap_engine_new(&o, &ce, &msg)
	runtime.KeepAlive(opts.NetnsFile)
	if err := newError(rc, msg); err != nil {
		return nil, err
	}
	e := &Engine{e: ce, stopHandle: ce,
		backend: C.GoString(C.meshcap_engine_backend(ce))}
	runtime.SetFinalizer(e, (*Engine).Close)
	return e, nil
}

// Backend returns "nftables" or "iptables-legacy".
func (e *Engine) Backend() string { return e.backend }

// Close releases the engine's socket and thread. Further calls fail with an
// error matching fs.ErrClosed. Close is idempotent.
func (e *Engine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stopMu.Lock()
	e.stopHandle = nil
	e.stopMu.Unlock()
	if e.e != nil {
		C.meshcap_engine_free(e.e)
		e.e = nil
	}
	runtime.SetFinalizer(e, nil)
	return nil
}

// ApplyResult says what an Apply or a Clean did.
type ApplyResult struct {
	// "nftables" or "iptables-legacy".
	Backend string `json:"backend"`
	// One line per change ("replaced table inet istio-proxy-nat"); empty
	// when nothing was sent to the kernel.
	Changes []string `json:"changes"`
}

// Changed reports whether anything was sent to the kernel.
func (r *ApplyResult) Changed() bool { return len(r.Changes) > 0 }

// Difference is one difference between the kernel and a policy.
type Difference struct {
	// "missing", "extra" or "changed".
	Kind string `json:"kind"`
	// "rule", "chain", "table", "routing entry", "address", "backend",
	// "transaction".
	Object string `json:"object"`
	Table  string `json:"table"`
	Chain  string `json:"chain"`
	// 1-based rule position; 0 when it does not apply.
	Position int    `json:"position"`
	Desired  string `json:"desired"`
	Actual   string `json:"actual"`
	// The whole difference, as `meshcap verify` prints it.
	Text string `json:"text"`
}

func (d Difference) String() string { return d.Text }

// VerifyReport is what Verify found.
type VerifyReport struct {
	Backend string `json:"backend"`
	// The ruleset generation the report was read at: pass it to
	// ExpectGeneration for a verify-then-apply (0 for iptables-legacy).
	Generation  uint32       `json:"generation"`
	Differences []Difference `json:"differences"`
}

// Matches reports whether the kernel holds exactly the policy's capture.
func (r *VerifyReport) Matches() bool { return len(r.Differences) == 0 }

// ApplyOption changes how Apply works.
type ApplyOption func(*C.meshcap_apply_options)

// ExpectGeneration makes Apply go ahead only if the kernel's ruleset
// generation is still generation (a VerifyReport's); otherwise Apply
// changes nothing and fails with Aborted. nftables only.
func ExpectGeneration(generation uint32) ApplyOption {
	return func(o *C.meshcap_apply_options) {
		o.flags |= C.MESHCAP_APPLY_EXPECT_GENERATION
		o.expected_generation = C.uint32_t(generation)
	}
}

// Apply makes the namespace hold exactly the policy's capture, in one
// transaction.
func (e *Engine) Apply(p *Policy, opts ...ApplyOption) (*ApplyResult, error) {
	var o *C.meshcap_apply_options // NULL: the defaults
	if len(opts) > 0 {
		o = new(C.meshcap_apply_options)
		C.meshcap_apply_options_init(o)
		for _, opt := range opts {
			opt(o)
		}
	}
	var out, msg *C.char
	var changed C.int
	e.mu.Lock()
	if e.e == nil {
		e.mu.Unlock()
		return nil, closedError("apply")
	}
	rc := C.meshcap_engine_apply(e.e, p.p, o, &changed, &out, &msg)
	e.mu.Unlock()
	runtime.KeepAlive(p)
	return e.applyResult(rc, changed, out, msg)
}

// Verify compares the namespace with the policy. A report is returned
// whether or not they match.
func (e *Engine) Verify(p *Policy) (*VerifyReport, error) {
	var out, msg *C.char
	e.mu.Lock()
	if e.e == nil {
		e.mu.Unlock()
		return nil, closedError("verify")
	}
	rc := C.meshcap_engine_verify(e.e, p.p, nil, &out, &msg)
	e.mu.Unlock()
	runtime.KeepAlive(p)
	if err := newError(rc, msg); err != nil {
		return nil, err
	}
	var r VerifyReport
	if err := json.Unmarshal([]byte(takeString(out)), &r); err != nil {
		return nil, &Error{Code: Internal, Message: "verify report: " + err.Error()}
	}
	return &r, nil
}

// Clean removes everything of meshcap's from the namespace, in both
// backends, and its policy routing (`meshcap clean`). Removing nothing is
// not an error.
func (e *Engine) Clean() (*ApplyResult, error) {
	var out, msg *C.char
	var changed C.int
	e.mu.Lock()
	if e.e == nil {
		e.mu.Unlock()
		return nil, closedError("clean")
	}
	rc := C.meshcap_engine_clean(e.e, &changed, &out, &msg)
	e.mu.Unlock()
	return e.applyResult(rc, changed, out, msg)
}

func (e *Engine) applyResult(rc, changed C.int, out, msg *C.char) (*ApplyResult, error) {
	if err := newError(rc, msg); err != nil {
		return nil, err
	}
	if changed == 0 {
		// Nothing was sent: no changes to read.
		freeString(out)
		return &ApplyResult{Backend: e.backend}, nil
	}
	var r ApplyResult
	if err := json.Unmarshal([]byte(takeString(out)), &r); err != nil {
		return nil, &Error{Code: Internal, Message: "apply result: " + err.Error()}
	}
	return &r, nil
}

// WatchEvent is what Watch reports, one per line of a log.
type WatchEvent struct {
	// "applied", "waiting" (another watcher holds the namespace), "healed"
	// or "heal_failed".
	Kind string `json:"kind"`
	// One line: "healed in 1.3 ms: missing table ...".
	Message string `json:"message"`
	// What had drifted, and what the heal changed.
	Drifted []string `json:"drifted"`
	Changes []string `json:"changes"`
	// Microseconds from noticing the drift to the capture verified whole.
	ElapsedMicros int64 `json:"elapsed_us"`
	// heal_failed: why.
	Error string `json:"error"`
}

// Elapsed is ElapsedMicros as a duration.
func (ev WatchEvent) Elapsed() time.Duration {
	return time.Duration(ev.ElapsedMicros) * time.Microsecond
}

// WatchOptions tune Watch; the zero value is the defaults.
type WatchOptions struct {
	// How often iptables-legacy is polled and a failed heal retried. 0: 1s.
	Interval time.Duration
	// How often the event-driven backends verify anyway. 0: 60s.
	Resync time.Duration
	// Receives each event, on a goroutine of the package's. Until it
	// returns, the next event waits.
	OnEvent func(WatchEvent)
}

func watchMillis(name string, d time.Duration) (C.uint32_t, error) {
	ms := d.Milliseconds()
	if ms <= 0 || ms >= 1<<32 {
		return 0, &Error{Code: InvalidArgument,
			Message: fmt.Sprintf("WatchOptions.%s: %v is not a positive duration of at least 1ms", name, d)}
	}
	return C.uint32_t(ms), nil
}

// Watch applies the policy, then holds it: whenever anything changes what
// Apply owns, it re-applies it. It blocks until StopWatch and then returns
// nil, leaving the capture in place; an error if the first apply fails.
// Other calls on this Engine wait until it returns.
func (e *Engine) Watch(p *Policy, opts WatchOptions) error {
	var o C.meshcap_watch_options
	C.meshcap_watch_options_init(&o)
	var err error
	if opts.Interval != 0 {
		if o.interval_ms, err = watchMillis("Interval", opts.Interval); err != nil {
			return err
		}
	}
	if opts.Resync != 0 {
		if o.resync_ms, err = watchMillis("Resync", opts.Resync); err != nil {
			return err
		}
	}
	var r, w *os.File
	done := make(chan struct{})
	if opts.OnEvent != nil {
		if r, w, err = os.Pipe(); err != nil {
			return &Error{Code: Internal, Message: "watch: " + err.Error()}
		}
		o.event_fd = C.int32_t(w.Fd())
		go func() {
			defer close(done)
			lines := bufio.NewScanner(r)
			lines.Buffer(make([]byte, 0, 64<<10), 16<<20)
			for lines.Scan() {
				var ev WatchEvent
				if json.Unmarshal(lines.Bytes(), &ev) == nil {
					opts.OnEvent(ev)
				}
			}
			_, _ = io.Copy(io.Discard, r)
		}()
	} else {
		close(done)
	}
	var msg *C.char
	e.mu.Lock()
	if e.e == nil {
		e.mu.Unlock()
		if w != nil {
			w.Close()
			<-done
			r.Close()
		}
		return closedError("watch")
	}
	rc := C.meshcap_engine_watch(e.e, p.p, &o, &msg)
	e.mu.Unlock()
	runtime.KeepAlive(p)
	if w != nil {
		w.Close()
		<-done
		r.Close()
	}
	return newError(rc, msg)
}

// StopWatch makes the running (or next) Watch return. Safe from any
// goroutine; it does not wait for the Engine's other calls.
func (e *Engine) StopWatch() {
	e.stopMu.Lock()
	defer e.stopMu.Unlock()
	if e.stopHandle != nil {
		C.meshcap_engine_stop_watch(e.stopHandle)
	}
}

func closedError(op string) error {
	return fmt.Errorf("meshcap: %s: %w", op, fs.ErrClosed)
}
