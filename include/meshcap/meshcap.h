// SPDX-License-Identifier: GPL-2.0-or-later
// -----------------------------------------------------------------------------
// File: meshcap.h
// -----------------------------------------------------------------------------
//
// The umbrella header: everything public in libmeshcap.

#ifndef MESHCAP_MESHCAP_H_
#define MESHCAP_MESHCAP_H_

#include "meshcap/engine.h"
#include "meshcap/explain.h"
#include "meshcap/istio_environment.h"
#include "meshcap/net.h"
#include "meshcap/policy.h"
#include "meshcap/policy_json.h"
#include "meshcap/render.h"
#include "meshcap/validate.h"
#include "meshcap/version.h"

#endif  // MESHCAP_MESHCAP_H_
