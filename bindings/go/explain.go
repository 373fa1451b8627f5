// SPDX-License-Identifier: GPL-2.0-or-later

package meshcap

/*
#include <meshcap/meshcap_c.h>
*/
import "C"

import (
	"encoding/json"
	"runtime"
	"strconv"
)

// Packet describes one packet for Explain. Dst ("IP:PORT", "[IPv6]:PORT")
// is required. UID, GID and Oif describe a packet a local process sends
// (the output path); Iif one that arrives (prerouting). Zero values mean
// the defaults: TCP, the pod's address, UID and GID 0, ct state "new".
type Packet struct {
	Proto    string // "tcp" or "udp"
	Src      string // "IP[:PORT]"
	Dst      string
	UID, GID *uint32
	Oif, Iif string
	Mark     uint32
	Connmark uint32
	CtState  string // "new", "established", "related", "invalid"
}

// ExplainStep is one rule (or a chain's end) the packet reached, in the
// kernel's order.
type ExplainStep struct {
	Table    string `json:"table"`  // "nat", or "inet istio-proxy-nat"
	Family   string `json:"family"` // "ipv4", "ipv6"
	Chain    string `json:"chain"`
	Rule     int    `json:"rule"` // 1-based; 0 for the chain's end
	Text     string `json:"text"` // Istio's spelling for the backend
	Matched  bool   `json:"matched"`
	Outcome  string `json:"outcome"`
	Decisive bool   `json:"decisive"`
}

// Explanation says why a packet is or is not captured.
type Explanation struct {
	Captured   bool          `json:"captured"`
	Port       *int          `json:"port"`
	Mode       string        `json:"mode"` // REDIRECT, TPROXY, ACCEPT, DROP
	Summary    string        `json:"summary"`
	TproxyMark *uint32       `json:"tproxyMark"`
	RouteTable *uint32       `json:"routeTable"`
	CtZone     *int          `json:"ctZone"`
	Mark       uint32        `json:"mark"`
	Connmark   uint32        `json:"connmark"`
	Backend    string        `json:"backend"`
	Packet     string        `json:"packet"`
	Path       []ExplainStep `json:"path"`
}

// Explain walks packet through the rules p compiles to for backend
// ("nftables" when empty), in the order the kernel evaluates them, and
// says which rule decided and where the packet goes. No kernel is
// touched. A packet that cannot happen is an InvalidArgument error naming
// the value.
func Explain(p *Policy, packet Packet, backend string) (*Explanation, error) {
	doc := map[string]string{"dst": packet.Dst}
	set := func(key, value string) {
		if value != "" {
			doc[key] = value
		}
	}
	set("proto", packet.Proto)
	set("src", packet.Src)
	set("oif", packet.Oif)
	set("iif", packet.Iif)
	set("ctState", packet.CtState)
	if packet.UID != nil {
		doc["uid"] = strconv.FormatUint(uint64(*packet.UID), 10)
	}
	if packet.GID != nil {
		doc["gid"] = strconv.FormatUint(uint64(*packet.GID), 10)
	}
	doc["mark"] = strconv.FormatUint(uint64(packet.Mark), 10)
	doc["connmark"] = strconv.FormatUint(uint64(packet.Connmark), 10)
	in, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	if backend == "" {
		backend = "nftables"
	}
	var cs cStrings
	defer cs.free()
	var out, msg *C.char
	rc := C.meshcap_explain(p.p, cs.add(string(in)), cs.add(backend), &out, &msg)
	runtime.KeepAlive(p)
	if err := newError(rc, msg); err != nil {
		return nil, err
	}
	var e Explanation
	if err := json.Unmarshal([]byte(takeString(out)), &e); err != nil {
		return nil, err
	}
	return &e, nil
}
