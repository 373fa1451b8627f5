// SPDX-License-Identifier: GPL-2.0-or-later
// Crash injection for tests: every point after which the kernel holds a
// state of its own (a routing entry added or removed, a table committed,
// the intent record written) calls CrashPoint(). Tests install a hook that
// SIGKILLs the process at the N-th point and check what it left behind.
// Without a hook, a CrashPoint costs one load and one branch.

#ifndef MESHCAP_SRC_CRASH_POINT_H_
#define MESHCAP_SRC_CRASH_POINT_H_

namespace meshcap::internal {

using CrashHook = void (*)(const char* where);

extern CrashHook crash_hook;

inline void CrashPoint(const char* where) {
  if (crash_hook != nullptr) crash_hook(where);
}

// Tests only.
inline void SetCrashHookForTest(CrashHook hook) { crash_hook = hook; }

}  // namespace meshcap::internal

#endif  // MESHCAP_SRC_CRASH_POINT_H_
