// SPDX-License-Identifier: GPL-2.0-or-later

package meshcap

/*
#include <meshcap/meshcap_c.h>
*/
import "C"

import (
	"errors"
	"io/fs"
	"strconv"
)

// Code is a meshcap error code: Abseil's canonical status codes, value for
// value with the C ABI's MESHCAP_* constants.
//
// A Code is itself an error, and every *Error unwraps to its Code, so
//
//	errors.Is(err, meshcap.NotFound)
//	errors.Is(err, meshcap.PermissionDenied)
//	errors.Is(err, meshcap.Aborted)
//
// test the kind of a failure. NotFound and PermissionDenied also match
// fs.ErrNotExist and fs.ErrPermission, and AlreadyExists fs.ErrExist.
type Code int

// The codes.
const (
	OK                 Code = 0
	Canceled           Code = 1
	Unknown            Code = 2
	InvalidArgument    Code = 3
	DeadlineExceeded   Code = 4
	NotFound           Code = 5
	AlreadyExists      Code = 6
	PermissionDenied   Code = 7
	ResourceExhausted  Code = 8
	FailedPrecondition Code = 9
	Aborted            Code = 10
	OutOfRange         Code = 11
	Unimplemented      Code = 12
	Internal           Code = 13
	Unavailable        Code = 14
	DataLoss           Code = 15
	Unauthenticated    Code = 16
)

// String returns the code's name as Abseil spells it: "NOT_FOUND".
func (c Code) String() string {
	if name := C.GoString(C.meshcap_code_name(C.int(c))); name != "" {
		return name
	}
	return "CODE(" + strconv.Itoa(int(c)) + ")"
}

// Error makes a Code usable as a sentinel error; it is the code's name.
func (c Code) Error() string { return c.String() }

// Is reports whether the code means the same as one of the io/fs errors.
func (c Code) Is(target error) bool {
	switch target {
	case fs.ErrNotExist:
		return c == NotFound
	case fs.ErrPermission:
		return c == PermissionDenied
	case fs.ErrExist:
		return c == AlreadyExists
	}
	return false
}

// Error is a failure reported by the library: its code and its message,
// which names the offending value ("policy: key 'InboundPortsExclude':
// port '0' is out of range (1-65535)").
type Error struct {
	Code    Code
	Message string
}

func (e *Error) Error() string { return "meshcap: " + e.Message }

// Unwrap returns the code, for errors.Is and errors.As.
func (e *Error) Unwrap() error { return e.Code }

// CodeOf returns the code of a meshcap error anywhere in err's chain: OK
// for nil, Unknown for an error that is not meshcap's.
func CodeOf(err error) Code {
	if err == nil {
		return OK
	}
	var c Code
	if errors.As(err, &c) {
		return c
	}
	return Unknown
}

// newError takes the code a C function returned and the message it
// allocated (and frees the message).
func newError(rc C.int, msg *C.char) error {
	if rc == C.MESHCAP_OK {
		freeString(msg)
		return nil
	}
	text := takeString(msg)
	if text == "" {
		text = Code(rc).String()
	}
	return &Error{Code: Code(rc), Message: text}
}
