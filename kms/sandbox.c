/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Why libseccomp (Debian libseccomp-dev): it assembles the BPF program for the running
 * architecture and compares arguments (read-only opens, which signals) without a hand-written
 * filter. The allowlist was taken from strace of kmsd's worker threads serving every resource,
 * errors, bearer tokens, HTTP/2, a killed kms-hsmd and a blocked audit log, plus what the
 * sanitizer runtime needs; tests/integration runs everything under it.
 */
#include "kms/sandbox.h"

#include <fcntl.h>
#include <signal.h>
#include <stddef.h>

#include <seccomp.h>

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define KMS_SANDBOX_TSAN 1
#endif
#endif
#if !defined(KMS_SANDBOX_TSAN) && defined(__SANITIZE_THREAD__)
#define KMS_SANDBOX_TSAN 1
#endif
#ifndef KMS_SANDBOX_TSAN
#define KMS_SANDBOX_TSAN 0
#endif

#if KMS_SANDBOX_TSAN
#include <sys/ioctl.h>

#include <sanitizer/common_interface_defs.h>
#endif

#include "common/banned.h"

static const int allowed[] = {
	/* sockets and the event loop */
	SCMP_SYS(read),
	SCMP_SYS(write),
	SCMP_SYS(readv),
	SCMP_SYS(writev),
	SCMP_SYS(close),
	SCMP_SYS(epoll_wait),
	SCMP_SYS(epoll_pwait),
	SCMP_SYS(epoll_ctl),
	SCMP_SYS(accept),
	SCMP_SYS(accept4),
	SCMP_SYS(recvfrom),
	SCMP_SYS(recvmsg),
	SCMP_SYS(sendto),
	SCMP_SYS(sendmsg),
	SCMP_SYS(shutdown),
	SCMP_SYS(setsockopt),
	SCMP_SYS(getsockopt),
	SCMP_SYS(getsockname),
	SCMP_SYS(getpeername),
	SCMP_SYS(fcntl),
	SCMP_SYS(poll),
	SCMP_SYS(ppoll),
	/* the store (SQLite, WAL): file I/O on descriptors opened before the threads started */
	SCMP_SYS(pread64),
	SCMP_SYS(pwrite64),
	SCMP_SYS(lseek),
	SCMP_SYS(fstat),
	SCMP_SYS(newfstatat),
	SCMP_SYS(fsync),
	SCMP_SYS(fdatasync),
	SCMP_SYS(ftruncate),
	/* memory */
	SCMP_SYS(mmap),
	SCMP_SYS(munmap),
	SCMP_SYS(mremap),
	SCMP_SYS(mprotect),
	SCMP_SYS(madvise),
	SCMP_SYS(brk),
	SCMP_SYS(mlock),
	SCMP_SYS(munlock),
	/* threads, time, randomness, signals, exit */
	SCMP_SYS(futex),
	SCMP_SYS(getpid),
	SCMP_SYS(gettid),
	SCMP_SYS(getrandom),
	SCMP_SYS(clock_gettime),
	SCMP_SYS(clock_nanosleep),
	SCMP_SYS(nanosleep),
	SCMP_SYS(gettimeofday),
	SCMP_SYS(sched_yield),
	SCMP_SYS(rt_sigprocmask),
	SCMP_SYS(rt_sigreturn),
	SCMP_SYS(sigaltstack),
	SCMP_SYS(restart_syscall),
	SCMP_SYS(exit),
	SCMP_SYS(exit_group),
	/* the sanitizer runtime (sanitizer builds only use them) */
	SCMP_SYS(prctl),
	SCMP_SYS(sched_getaffinity),
	SCMP_SYS(readlink),
	SCMP_SYS(readlinkat),
	SCMP_SYS(prlimit64),
	SCMP_SYS(getrlimit),
};

int
kms_sandbox_worker(void)
{
	/* the argument comparisons: {argument index, operator, mask or value, value} */
	const struct scmp_arg_cmp read_only = {2, SCMP_CMP_MASKED_EQ, O_ACCMODE, O_RDONLY};
	const struct scmp_arg_cmp sigkill = {1, SCMP_CMP_EQ, SIGKILL, 0};
	const struct scmp_arg_cmp sigabrt = {2, SCMP_CMP_EQ, SIGABRT, 0};
#if KMS_SANDBOX_TSAN
	const struct scmp_arg_cmp tcgets = {1, SCMP_CMP_EQ, TCGETS, 0};
#endif
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	size_t i;
	int ok;

	if (ctx == NULL) {
		return KMS_ERR_UNSUPPORTED;
	}
#if KMS_SANDBOX_TSAN
	{
		/* ThreadSanitizer builds only: a report, and a suppression to match, need function
		 * names, from the symbolizer the runtime starts as a child process at its first use
		 * (stat, pipe, fork, execve): under the filter that would be SIGSYS, and the report
		 * lost. So it is started here, from this thread before its filter (the child does
		 * not inherit one), and the filter lets the runtime talk to it (read, write). */
		char where[128];

		(void)__sanitizer_symbolize_pc(__builtin_return_address(0), "%F", where,
					       sizeof(where));
	}
#endif
	ok = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 0) == 0;
	for (i = 0; ok && i < sizeof(allowed) / sizeof(allowed[0]); i++) {
		ok = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, allowed[i], 0) == 0;
	}
	/* opens only for reading: /dev/urandom, /proc (malloc), the store's directory (SQLite
	 * fsyncs it); a hung kms-hsmd is killed from the thread that waited for it (SIGKILL only);
	 * abort() for broken invariants (SIGABRT only) */
	ok = ok &&
	     seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1, &read_only) == 0;
#if KMS_SANDBOX_TSAN
	/* ThreadSanitizer builds only (tests/run stage tsan): the runtime opens its report file
	 * (log_path) with open(2) for writing; without this a race on an event-loop thread would
	 * kill kmsd before its report is written */
	ok = ok && seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(open), 0) == 0;
	ok = ok && seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 0) == 0;
	/* and asks whether that file is a terminal (isatty: TCGETS), for the report's colours */
	ok = ok && seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1, &tcgets) == 0;
#endif
	ok = ok && seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, SCMP_SYS(kill), 1, &sigkill) == 0;
	ok = ok && seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1, &sigabrt) == 0;
	ok = ok && seccomp_load(ctx) == 0;
	seccomp_release(ctx);
	return ok ? KMS_OK : KMS_ERR_UNSUPPORTED;
}
