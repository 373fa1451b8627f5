// SPDX-License-Identifier: GPL-2.0-or-later
module example.invalid/meshcap/bindings/go

go 1.19
