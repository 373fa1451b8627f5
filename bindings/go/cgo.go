// SPDX-License-Identifier: GPL-2.0-or-later

package meshcap

// The C ABI is found with pkg-config (meshcap-c.pc): installed, or the
// build tree's meson-uninstalled/ on PKG_CONFIG_PATH.

/*
#cgo pkg-config: meshcap-c
#include <stdlib.h>
#include <meshcap/meshcap_c.h>
*/
import "C"

import "unsafe"

// cStrings holds the C copies of a call's string arguments until the call
// returns; the library keeps none of them.
type cStrings []*C.char

// add returns a C copy of s.
func (c *cStrings) add(s string) *C.char {
	p := C.CString(s)
	*c = append(*c, p)
	return p
}

// optional returns a C copy of s, or NULL for "".
func (c *cStrings) optional(s string) *C.char {
	if s == "" {
		return nil
	}
	return c.add(s)
}

func (c *cStrings) free() {
	for _, p := range *c {
		C.free(unsafe.Pointer(p))
	}
	*c = nil
}

// takeString copies a string the library returned and frees it.
func takeString(p *C.char) string {
	if p == nil {
		return ""
	}
	s := C.GoString(p)
	C.meshcap_free(unsafe.Pointer(p))
	return s
}

func freeString(p *C.char) {
	if p != nil {
		C.meshcap_free(unsafe.Pointer(p))
	}
}
