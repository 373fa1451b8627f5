// SPDX-License-Identifier: GPL-2.0-or-later
// -----------------------------------------------------------------------------
// File: export.h
// -----------------------------------------------------------------------------
//
// `MESHCAP_EXPORT` marks the declarations that libmeshcap exports. The library
// is built with hidden visibility, so anything not marked stays internal.

#ifndef MESHCAP_EXPORT_H_
#define MESHCAP_EXPORT_H_

#if defined(MESHCAP_BUILDING_LIBRARY)
#define MESHCAP_EXPORT __attribute__((visibility("default")))
#else
#define MESHCAP_EXPORT
#endif

#endif  // MESHCAP_EXPORT_H_
