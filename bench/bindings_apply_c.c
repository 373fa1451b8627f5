// SPDX-License-Identifier: GPL-2.0-or-later
//
// The C side of bench/bindings_ratios.py: the loop of
// bindings_apply_cxx.cc through the C ABI.
//   bindings_apply_c first|reapply ITERATIONS WARMUP

#define _POSIX_C_SOURCE 200809L
#include <meshcap/meshcap_c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char kPolicy[] =
    "{\"OutboundIPRangesInclude\": \"*\", \"InboundPortsInclude\": \"*\", "
    "\"InboundPortsExclude\": \"15090,15021,15020\"}";

static double Now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int Fail(const char *what, int rc, char *error) {
  fprintf(stderr, "bindings_apply_c: %s: %s (%s)\n", what, error ? error : "",
          meshcap_code_name(rc));
  meshcap_free(error);
  return 1;
}

int main(int argc, char **argv) {
  meshcap_policy *policy = NULL;
  meshcap_engine *engine = NULL;
  meshcap_engine_options options;
  char *error = NULL;
  double *samples;
  int first, iterations, warmup, i, rc;
  if (argc != 4 ||
      (strcmp(argv[1], "first") != 0 && strcmp(argv[1], "reapply") != 0)) {
    fprintf(stderr, "usage: %s first|reapply ITERATIONS WARMUP\n", argv[0]);
    return 2;
  }
  first = strcmp(argv[1], "first") == 0;
  iterations = atoi(argv[2]);
  warmup = atoi(argv[3]);
  samples = calloc((size_t)iterations + 1, sizeof(double));
  rc = meshcap_policy_from_json(kPolicy, &policy, &error);
  if (rc != MESHCAP_OK) return Fail("policy", rc, error);
  meshcap_engine_options_init(&options);
  options.backend = "nftables";
  rc = meshcap_engine_new(&options, &engine, &error);
  if (rc != MESHCAP_OK) return Fail("engine", rc, error);
  rc = meshcap_engine_apply(engine, policy, NULL, NULL, NULL, &error);
  if (rc != MESHCAP_OK) return Fail("apply", rc, error);
  for (i = 0; i < warmup + iterations; ++i) {
    char *result = NULL;
    int changed = 0;
    double start, end;
    if (first) {
      rc = meshcap_engine_clean(engine, NULL, NULL, &error);
      if (rc != MESHCAP_OK) return Fail("clean", rc, error);
    }
    // What a C caller gets: the code, the flag and the JSON result.
    start = Now();
    rc = meshcap_engine_apply(engine, policy, NULL, &changed, &result, &error);
    end = Now();
    meshcap_free(result);
    if (rc != MESHCAP_OK) return Fail("apply", rc, error);
    if (changed != first) {
      fprintf(stderr, "bindings_apply_c: apply %s changed\n",
              changed ? "unexpectedly" : "never");
      return 1;
    }
    if (i >= warmup) samples[i - warmup] = end - start;
  }
  printf("{\"api\": \"c\", \"case\": \"%s\", \"samples_us\": [", argv[1]);
  for (i = 0; i < iterations; ++i) {
    printf("%s%.3f", i ? ", " : "", samples[i]);
  }
  printf("]}\n");
  free(samples);
  meshcap_engine_free(engine);
  meshcap_policy_free(policy);
  return 0;
}
