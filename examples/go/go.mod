// SPDX-License-Identifier: GPL-2.0-or-later
module example.invalid/meshcap/examples/go

go 1.19

require example.invalid/meshcap/bindings/go v0.0.0

// The package from this repository; a program elsewhere requires the
// published module instead.
replace example.invalid/meshcap/bindings/go => ../../bindings/go
