/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KMS_KMS_SANDBOX_H
#define KMS_KMS_SANDBOX_H

#include "common/err.h"

/*
 * kms_sandbox_worker - confine the calling thread (a kmsd event-loop thread, where network
 * bytes are parsed) with a seccomp filter: only the system calls that serving needs (sockets
 * it already has, memory, time, the store's file I/O, read-only opens, SIGKILL to a hung
 * kms-hsmd); anything else kills the process. The filter is the thread's own (no TSYNC): the
 * main and supervising threads, which start kms-hsmd processes, stay unconfined, and so do
 * those processes. no_new_privs must already be set. Returns KMS_OK, or KMS_ERR_UNSUPPORTED
 * (the kernel or libseccomp refused the filter).
 */
int kms_sandbox_worker(void) KMS_WUR;

#endif /* KMS_KMS_SANDBOX_H */
