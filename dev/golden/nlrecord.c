/* SPDX-License-Identifier: GPL-2.0-or-later
 * An LD_PRELOAD shim for dev/golden/nft-batches.sh: appends every datagram a
 * process sends on a netlink socket to $NLRECORD_FILE, as a u32 length
 * (host order) and the bytes. Build: gcc -shared -fPIC -o nlrecord.so
 * nlrecord.c -ldl */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

static int IsNetlink(int fd) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  return getsockname(fd, (struct sockaddr *)&ss, &len) == 0 &&
         ss.ss_family == AF_NETLINK;
}

static void Record(const struct iovec *iov, size_t n, size_t total) {
  const char *path = getenv("NLRECORD_FILE");
  FILE *f = path ? fopen(path, "ab") : NULL;
  if (f == NULL) return;
  uint32_t len = (uint32_t)total;
  fwrite(&len, sizeof(len), 1, f);
  for (size_t i = 0; i < n && total > 0; ++i) {
    size_t part = iov[i].iov_len < total ? iov[i].iov_len : total;
    fwrite(iov[i].iov_base, 1, part, f);
    total -= part;
  }
  fclose(f);
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags) {
  static ssize_t (*real)(int, const struct msghdr *, int);
  if (real == NULL) real = dlsym(RTLD_NEXT, "sendmsg");
  ssize_t r = real(fd, msg, flags);
  if (r > 0 && IsNetlink(fd)) Record(msg->msg_iov, msg->msg_iovlen, (size_t)r);
  return r;
}

ssize_t sendto(int fd, const void *buf, size_t len, int flags,
               const struct sockaddr *addr, socklen_t addrlen) {
  static ssize_t (*real)(int, const void *, size_t, int,
                         const struct sockaddr *, socklen_t);
  if (real == NULL) real = dlsym(RTLD_NEXT, "sendto");
  ssize_t r = real(fd, buf, len, flags, addr, addrlen);
  if (r > 0 && IsNetlink(fd)) {
    struct iovec iov = {(void *)buf, (size_t)r};
    Record(&iov, 1, (size_t)r);
  }
  return r;
}
