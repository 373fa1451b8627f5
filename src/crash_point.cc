// SPDX-License-Identifier: GPL-2.0-or-later

#include "src/crash_point.h"

namespace meshcap::internal {

CrashHook crash_hook = nullptr;

}  // namespace meshcap::internal
