/* SPDX-License-Identifier: Apache-2.0 */
#include "hsm/p11.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/secmem.h"
#include "hsm/p11uri.h"
#include "hsm/pin.h"

#include "common/banned.h"

/*
 * Invariants:
 * - The module is initialized (C_Initialize) at most once at a time, by this layer only, and
 *   C_Finalize runs only while no session is borrowed: a restart first moves the state to
 *   RESTARTING, which stops new borrows, and waits until sessions_out is 0. So a borrowed
 *   session's handle, p->fn and p->slot stay valid until it is returned.
 * - state, sessions_out, the pool's flags, last_err and the back-off change under p->lock; the
 *   C_* calls of a restart run outside it (state RESTARTING keeps everyone else out).
 * - The PIN is read from its file into a struct kms_secret just before C_Login and freed (wiped)
 *   just after it; it is never kept, copied elsewhere or logged.
 */

enum p11_state {
	P11_UP,         /* sessions can be borrowed */
	P11_DOWN,       /* the token was lost or a restart failed; borrows fail or restart */
	P11_RESTARTING, /* a restart is draining the pool or running */
};

struct kms_p11_session {
	struct kms_p11 *p11; /* borrowed: the pool this session belongs to */
	CK_SESSION_HANDLE handle;
	int open;     /* handle is a session of the current initialization */
	int borrowed; /* lent out */
	int broken;   /* kms_p11_check saw the session or the token gone: close on return */
};

struct kms_p11 {
	pthread_mutex_t lock;
	pthread_cond_t cond; /* CLOCK_MONOTONIC; signalled when state or the pool changes */
	pid_t pid;           /* the process that initialized the module */

	/* configuration, copied */
	char module_path[PATH_MAX];
	char module_params[KMS_P11_MAX_PARAMS + 1]; /* "": none */
	char pin_path[PATH_MAX];
	char pin_credential[256];
	const struct kms_secret *pin; /* borrowed from the caller (cfg->pin), or NULL */
	struct kms_p11uri uri;
	unsigned int num_sessions;
	unsigned int borrow_ms;
	unsigned int retry_ms;
	unsigned long recycle_after;

	/* module; fn and slot change only during a restart */
	void *dl;
	CK_FUNCTION_LIST *fn; /* borrowed from the module */
	int initialized;      /* C_Initialize succeeded: C_Finalize is due */
	CK_SLOT_ID slot;
	unsigned int enforces; /* KMS_P11_ENFORCES_*, probed at each start */
	int enforces_said;     /* the warning about what it does not enforce was logged */
	/*
	 * While a restart tries (restart_locked, which alone starts the module then), find_token
	 * keeps why it found no token here instead of logging it, and the restart's one line says
	 * it: an outage logs one line per try, not one per attempt within it.
	 */
	int find_quiet;
	char find_why[160];

	/* under lock */
	enum p11_state state;
	int last_err; /* why the layer is down; KMS_ERR_HSM_PIN stops automatic restarts */
	unsigned int sessions_out;
	uint64_t next_retry_ms; /* monotonic time of the next automatic restart */
	unsigned int retry_delay_ms;
	struct kms_p11_session sessions[KMS_P11_MAX_SESSIONS];

	atomic_ulong created;
	atomic_ulong destroyed;
	atomic_ulong restarts;
	atomic_ulong generation;
};

/* ---- CK_RV -> kms_err, and names for the log ---------------------------------------------- */

/*
 * One switch over every CKR_ value of <p11-kit/pkcs11.h> (PKCS#11 2.40 and CKR_FUNCTION_REJECTED).
 * The mapping, by what the caller can do about it:
 * - the token, the device, our session or our login is gone: KMS_ERR_HSM_UNAVAIL (restart);
 *   CKR_USER_NOT_LOGGED_IN is here because we log in at start, so it means the token was reset;
 * - the PIN was refused: KMS_ERR_HSM_PIN (an operator must act; never retried automatically);
 * - the module or token does not offer it: KMS_ERR_UNSUPPORTED;
 * - data failed verification (signature, MAC, authenticated decryption): KMS_ERR_AUTH;
 * - our own buffers or arguments: KMS_ERR_TOO_LARGE, KMS_ERR_INTERNAL; host memory: NOMEM;
 *   no more sessions: KMS_ERR_HSM_BUSY;
 * - everything else, including CKR_GENERAL_ERROR and CKR_FUNCTION_FAILED: KMS_ERR_HSM.
 * CKR_USER_ALREADY_LOGGED_IN is KMS_ERR_HSM here; the login treats it as success itself.
 */
#define KMS_P11_RV(code, err)                                                                      \
	case code:                                                                                 \
		*out_name = #code;                                                                 \
		return err

static int
describe_rv(CK_RV rv, const char **out_name)
{
	switch (rv) {
		KMS_P11_RV(CKR_OK, KMS_OK);
		KMS_P11_RV(CKR_CANCEL, KMS_ERR_HSM);
		KMS_P11_RV(CKR_HOST_MEMORY, KMS_ERR_NOMEM);
		KMS_P11_RV(CKR_SLOT_ID_INVALID, KMS_ERR_HSM_UNAVAIL);
		KMS_P11_RV(CKR_GENERAL_ERROR, KMS_ERR_HSM);
		KMS_P11_RV(CKR_FUNCTION_FAILED, KMS_ERR_HSM);
		KMS_P11_RV(CKR_ARGUMENTS_BAD, KMS_ERR_INTERNAL);
		KMS_P11_RV(CKR_NO_EVENT, KMS_ERR_HSM);
		KMS_P11_RV(CKR_NEED_TO_CREATE_THREADS, KMS_ERR_UNSUPPORTED);
		KMS_P11_RV(CKR_CANT_LOCK, KMS_ERR_UNSUPPORTED);
		KMS_P11_RV(CKR_ATTRIBUTE_READ_ONLY, KMS_ERR_HSM);
		KMS_P11_RV(CKR_ATTRIBUTE_SENSITIVE, KMS_ERR_HSM);
		KMS_P11_RV(CKR_ATTRIBUTE_TYPE_INVALID, KMS_ERR_HSM);
		KMS_P11_RV(CKR_ATTRIBUTE_VALUE_INVALID, KMS_ERR_HSM);
		KMS_P11_RV(CKR_ACTION_PROHIBITED, KMS_ERR_HSM);
		KMS_P11_RV(CKR_DATA_INVALID, KMS_ERR_HSM);
		KMS_P11_RV(CKR_DATA_LEN_RANGE, KMS_ERR_HSM);
		KMS_P11_RV(CKR_DEVICE_ERROR, KMS_ERR_HSM_UNAVAIL);
		KMS_P11_RV(CKR_DEVICE_MEMORY, KMS_ERR_HSM);
		KMS_P11_RV(CKR_DEVICE_REMOVED, KMS_ERR_HSM_UNAVAIL);
		KMS_P11_RV(CKR_ENCRYPTED_DATA_INVALID, KMS_ERR_AUTH);
		KMS_P11_RV(CKR_ENCRYPTED_DATA_LEN_RANGE, KMS_ERR_HSM);
		KMS_P11_RV(CKR_FUNCTION_CANCELED, KMS_ERR_HSM);
		KMS_P11_RV(CKR_FUNCTION_NOT_PARALLEL, KMS_ERR_UNSUPPORTED);
		KMS_P11_RV(CKR_FUNCTION_NOT_SUPPORTED, KMS_ERR_UNSUPPORTED);
		KMS_P11_RV(CKR_KEY_HANDLE_INVALID, KMS_ERR_HSM);
		KMS_P11_RV(CKR_KEY_SIZE_RANGE, KMS_ERR_HSM);
		KMS_P11_RV(CKR_KEY_TYPE_INCONSISTENT, KMS_ERR_HSM);
		KMS_P11_RV(CKR_KEY_NOT_NEEDED, KMS_ERR_HSM);
		KMS_P11_RV(CKR_KEY_CHANGED, KMS_ERR_HSM);
		KMS_P11_RV(CKR_KEY_NEEDED, KMS_ERR_HSM);
		KMS_P11_RV(CKR_KEY_INDIGESTIBLE, KMS_ERR_HSM);
		KMS_P11_RV(CKR_KEY_FUNCTION_NOT_PERMITTED, KMS_ERR_HSM);
		KMS_P11_RV(CKR_KEY_NOT_WRAPPABLE, KMS_ERR_HSM);
		KMS_P11_RV(CKR_KEY_UNEXTRACTABLE, KMS_ERR_HSM);
		KMS_P11_RV(CKR_MECHANISM_INVALID, KMS_ERR_UNSUPPORTED);
		KMS_P11_RV(CKR_MECHANISM_PARAM_INVALID, KMS_ERR_HSM);
		KMS_P11_RV(CKR_OBJECT_HANDLE_INVALID, KMS_ERR_HSM);
		KMS_P11_RV(CKR_OPERATION_ACTIVE, KMS_ERR_HSM);
		KMS_P11_RV(CKR_OPERATION_NOT_INITIALIZED, KMS_ERR_HSM);
		KMS_P11_RV(CKR_PIN_INCORRECT, KMS_ERR_HSM_PIN);
		KMS_P11_RV(CKR_PIN_INVALID, KMS_ERR_HSM_PIN);
		KMS_P11_RV(CKR_PIN_LEN_RANGE, KMS_ERR_HSM_PIN);
		KMS_P11_RV(CKR_PIN_EXPIRED, KMS_ERR_HSM_PIN);
		KMS_P11_RV(CKR_PIN_LOCKED, KMS_ERR_HSM_PIN);
		KMS_P11_RV(CKR_SESSION_CLOSED, KMS_ERR_HSM_UNAVAIL);
		KMS_P11_RV(CKR_SESSION_COUNT, KMS_ERR_HSM_BUSY);
		KMS_P11_RV(CKR_SESSION_HANDLE_INVALID, KMS_ERR_HSM_UNAVAIL);
		KMS_P11_RV(CKR_SESSION_PARALLEL_NOT_SUPPORTED, KMS_ERR_UNSUPPORTED);
		KMS_P11_RV(CKR_SESSION_READ_ONLY, KMS_ERR_HSM);
		KMS_P11_RV(CKR_SESSION_EXISTS, KMS_ERR_HSM);
		KMS_P11_RV(CKR_SESSION_READ_ONLY_EXISTS, KMS_ERR_HSM);
		KMS_P11_RV(CKR_SESSION_READ_WRITE_SO_EXISTS, KMS_ERR_HSM);
		KMS_P11_RV(CKR_SIGNATURE_INVALID, KMS_ERR_AUTH);
		KMS_P11_RV(CKR_SIGNATURE_LEN_RANGE, KMS_ERR_AUTH);
		KMS_P11_RV(CKR_TEMPLATE_INCOMPLETE, KMS_ERR_HSM);
		KMS_P11_RV(CKR_TEMPLATE_INCONSISTENT, KMS_ERR_HSM);
		KMS_P11_RV(CKR_TOKEN_NOT_PRESENT, KMS_ERR_HSM_UNAVAIL);
		KMS_P11_RV(CKR_TOKEN_NOT_RECOGNIZED, KMS_ERR_HSM_UNAVAIL);
		KMS_P11_RV(CKR_TOKEN_WRITE_PROTECTED, KMS_ERR_HSM);
		KMS_P11_RV(CKR_UNWRAPPING_KEY_HANDLE_INVALID, KMS_ERR_HSM);
		KMS_P11_RV(CKR_UNWRAPPING_KEY_SIZE_RANGE, KMS_ERR_HSM);
		KMS_P11_RV(CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT, KMS_ERR_HSM);
		KMS_P11_RV(CKR_USER_ALREADY_LOGGED_IN, KMS_ERR_HSM);
		KMS_P11_RV(CKR_USER_NOT_LOGGED_IN, KMS_ERR_HSM_UNAVAIL);
		KMS_P11_RV(CKR_USER_PIN_NOT_INITIALIZED, KMS_ERR_HSM_PIN);
		KMS_P11_RV(CKR_USER_TYPE_INVALID, KMS_ERR_HSM);
		KMS_P11_RV(CKR_USER_ANOTHER_ALREADY_LOGGED_IN, KMS_ERR_HSM);
		KMS_P11_RV(CKR_USER_TOO_MANY_TYPES, KMS_ERR_HSM);
		KMS_P11_RV(CKR_WRAPPED_KEY_INVALID, KMS_ERR_AUTH);
		KMS_P11_RV(CKR_WRAPPED_KEY_LEN_RANGE, KMS_ERR_HSM);
		KMS_P11_RV(CKR_WRAPPING_KEY_HANDLE_INVALID, KMS_ERR_HSM);
		KMS_P11_RV(CKR_WRAPPING_KEY_SIZE_RANGE, KMS_ERR_HSM);
		KMS_P11_RV(CKR_WRAPPING_KEY_TYPE_INCONSISTENT, KMS_ERR_HSM);
		KMS_P11_RV(CKR_RANDOM_SEED_NOT_SUPPORTED, KMS_ERR_UNSUPPORTED);
		KMS_P11_RV(CKR_RANDOM_NO_RNG, KMS_ERR_UNSUPPORTED);
		KMS_P11_RV(CKR_DOMAIN_PARAMS_INVALID, KMS_ERR_HSM);
		KMS_P11_RV(CKR_CURVE_NOT_SUPPORTED, KMS_ERR_UNSUPPORTED);
		KMS_P11_RV(CKR_BUFFER_TOO_SMALL, KMS_ERR_TOO_LARGE);
		KMS_P11_RV(CKR_SAVED_STATE_INVALID, KMS_ERR_HSM);
		KMS_P11_RV(CKR_INFORMATION_SENSITIVE, KMS_ERR_HSM);
		KMS_P11_RV(CKR_STATE_UNSAVEABLE, KMS_ERR_HSM);
		KMS_P11_RV(CKR_CRYPTOKI_NOT_INITIALIZED, KMS_ERR_HSM_UNAVAIL);
		KMS_P11_RV(CKR_CRYPTOKI_ALREADY_INITIALIZED, KMS_ERR_HSM);
		KMS_P11_RV(CKR_MUTEX_BAD, KMS_ERR_HSM);
		KMS_P11_RV(CKR_MUTEX_NOT_LOCKED, KMS_ERR_HSM);
		KMS_P11_RV(CKR_NEW_PIN_MODE, KMS_ERR_HSM);
		KMS_P11_RV(CKR_NEXT_OTP, KMS_ERR_HSM);
		KMS_P11_RV(CKR_EXCEEDED_MAX_ITERATIONS, KMS_ERR_HSM);
		KMS_P11_RV(CKR_FIPS_SELF_TEST_FAILED, KMS_ERR_HSM);
		KMS_P11_RV(CKR_LIBRARY_LOAD_FAILED, KMS_ERR_HSM);
		KMS_P11_RV(CKR_PIN_TOO_WEAK, KMS_ERR_HSM_PIN);
		KMS_P11_RV(CKR_PUBLIC_KEY_INVALID, KMS_ERR_HSM);
		KMS_P11_RV(CKR_FUNCTION_REJECTED, KMS_ERR_HSM);
		KMS_P11_RV(CKR_VENDOR_DEFINED, KMS_ERR_HSM);
	default:
		break;
	}
	*out_name = rv > CKR_VENDOR_DEFINED ? "CKR_VENDOR_DEFINED" : "CKR_UNKNOWN";
	return KMS_ERR_HSM;
}

#undef KMS_P11_RV

int
kms_p11_err(CK_RV rv)
{
	const char *name;

	return describe_rv(rv, &name);
}

const char *
kms_p11_rv_name(CK_RV rv)
{
	const char *name;

	(void)describe_rv(rv, &name);
	return name;
}

/* Log a failed call by the name of its CK_RV (and the number, for vendor codes). */
static void
log_rv(enum kms_log_level level, const char *fn, CK_RV rv)
{
	kms_log(level, "p11: %s: %s (0x%lx)", fn, kms_p11_rv_name(rv), (unsigned long)rv);
}

/* ---- time ---------------------------------------------------------------------------------- */

/* Wait on p->cond until woken or until deadline_ms (monotonic); 0, or ETIMEDOUT. */
static int
wait_until(struct kms_p11 *p, uint64_t deadline_ms)
{
	struct timespec ts;

	if (kms_mono_ms() >= deadline_ms) {
		return ETIMEDOUT;
	}
	ts.tv_sec = (time_t)(deadline_ms / 1000u);
	ts.tv_nsec = (long)(deadline_ms % 1000u) * 1000000L;
	return pthread_cond_timedwait(&p->cond, &p->lock, &ts) == ETIMEDOUT ? ETIMEDOUT : 0;
}

/* ---- module, token, login ------------------------------------------------------------------- */

static int
load_module(struct kms_p11 *p)
{
	CK_C_GetFunctionList get_list;
	CK_FUNCTION_LIST *fn = NULL;
	struct stat st;
	void *sym;
	CK_RV rv;

	if (stat(p->module_path, &st) != 0) {
		kms_log(KMS_LOG_ERR, "p11: module %s: %s", p->module_path, strerror(errno));
		return KMS_ERR_HSM_UNAVAIL;
	}
	/* The module runs with all our privileges: whoever can replace it owns the PIN. */
	if (!S_ISREG(st.st_mode) || (st.st_mode & 022) != 0) {
		kms_log(KMS_LOG_ERR,
			"p11: module %s: refused: not a regular file, or writable by group or "
			"others",
			p->module_path);
		return KMS_ERR_INVALID_ARG;
	}
	/*
	 * RTLD_NODELETE: the module stays mapped after kms_p11_free. Modules keep state past
	 * C_Finalize (NSS's softoken: its arenas, reachable from its globals), which an unmapped
	 * library turns into unreachable memory, and some cannot be unloaded safely at all.
	 */
	p->dl = dlopen(p->module_path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
	if (p->dl == NULL) {
		kms_log(KMS_LOG_ERR, "p11: cannot load module %s: %s", p->module_path, dlerror());
		return KMS_ERR_HSM_UNAVAIL;
	}
	sym = dlsym(p->dl, "C_GetFunctionList");
	if (sym == NULL) {
		kms_log(KMS_LOG_ERR, "p11: %s is not a PKCS#11 module (no C_GetFunctionList)",
			p->module_path);
		return KMS_ERR_INVALID_ARG;
	}
	/* ISO C has no conversion from void * to a function pointer; POSIX guarantees this one. */
	memcpy(&get_list, &sym, sizeof(get_list));
	rv = get_list(&fn);
	if (rv != CKR_OK || fn == NULL) {
		log_rv(KMS_LOG_ERR, "C_GetFunctionList", rv);
		return KMS_ERR_HSM;
	}
	/*
	 * A PKCS#11 3.x module's C_GetFunctionList returns the 2.x-compatible list (only
	 * C_GetInterface gives the 3.0 one), so 2 and 3 both have the layout of the header.
	 */
	if (fn->version.major != 2 && fn->version.major != 3) {
		kms_log(KMS_LOG_ERR, "p11: module %s: unsupported PKCS#11 version %u.%u",
			p->module_path, (unsigned int)fn->version.major,
			(unsigned int)fn->version.minor);
		return KMS_ERR_UNSUPPORTED;
	}
	if (fn->C_Initialize == NULL || fn->C_Finalize == NULL || fn->C_GetInfo == NULL ||
	    fn->C_GetSlotList == NULL || fn->C_GetSlotInfo == NULL || fn->C_GetTokenInfo == NULL ||
	    fn->C_OpenSession == NULL || fn->C_CloseSession == NULL || fn->C_Login == NULL ||
	    fn->C_CreateObject == NULL || fn->C_DestroyObject == NULL ||
	    fn->C_GenerateKey == NULL || fn->C_GetAttributeValue == NULL) {
		kms_log(KMS_LOG_ERR, "p11: module %s: incomplete function list", p->module_path);
		return KMS_ERR_UNSUPPORTED;
	}
	p->fn = fn;
	return KMS_OK;
}

/* The padded CK_*_INFO field without its trailing blanks, for "%.*s". */
static int
unpadded(const unsigned char *f, size_t n)
{
	while (n > 0 && (f[n - 1] == ' ' || f[n - 1] == '\0')) {
		n--;
	}
	return (int)n;
}

/* C_GetTokenInfo, tried again while it fails opaquely (kms_p11_token_info). */
static CK_RV
token_info_retry(const struct kms_p11 *p, CK_SLOT_ID slot, CK_TOKEN_INFO *ti)
{
	unsigned int i;
	CK_RV rv = CKR_GENERAL_ERROR;

	for (i = 0; i < 5; i++) {
		if (i > 0) {
			kms_sleep_ms(10u << (i - 1)); /* 10..80 ms */
		}
		rv = p->fn->C_GetTokenInfo(slot, ti);
		if (rv != CKR_GENERAL_ERROR && rv != CKR_FUNCTION_FAILED) {
			break;
		}
	}
	return rv;
}

/* Is the token in p->slot still the one the URI names? (A probe after an opaque failure.) */
static int
token_present(struct kms_p11 *p)
{
	CK_TOKEN_INFO ti;
	CK_RV rv;

	rv = token_info_retry(p, p->slot, &ti);
	if (rv != CKR_OK) {
		log_rv(KMS_LOG_ERR, "C_GetTokenInfo (probe)", rv);
		return 0;
	}
	return (ti.flags & CKF_TOKEN_INITIALIZED) != 0 && kms_p11uri_match_token(&p->uri, &ti);
}

/* Find the one initialized token that the URI's library, slot and token attributes match. */
static int
find_token(struct kms_p11 *p)
{
	CK_SLOT_ID slots[KMS_P11_MAX_SLOTS];
	CK_SLOT_INFO si;
	CK_TOKEN_INFO ti, found_ti = {0};
	CK_INFO info;
	CK_ULONG n = KMS_P11_MAX_SLOTS, i;
	CK_SLOT_ID found = 0;
	unsigned int matches = 0;
	CK_RV rv;

	rv = p->fn->C_GetInfo(&info);
	if (rv != CKR_OK) {
		log_rv(KMS_LOG_ERR, "C_GetInfo", rv);
		return kms_p11_err(rv);
	}
	if (!kms_p11uri_match_library(&p->uri, &info)) {
		kms_log(KMS_LOG_ERR,
			"p11: module %s (\"%.*s\" %u.%u) does not match the token URI's library "
			"attributes",
			p->module_path, unpadded(info.libraryDescription, 32),
			(const char *)info.libraryDescription,
			(unsigned int)info.libraryVersion.major,
			(unsigned int)info.libraryVersion.minor);
		return KMS_ERR_INVALID_ARG;
	}
	/* One call with room for KMS_P11_MAX_SLOTS: CKR_BUFFER_TOO_SMALL means more than that. */
	rv = p->fn->C_GetSlotList(CK_TRUE, slots, &n);
	if (rv == CKR_BUFFER_TOO_SMALL || (rv == CKR_OK && n > KMS_P11_MAX_SLOTS)) {
		kms_log(KMS_LOG_ERR, "p11: more than %u slots with a token", KMS_P11_MAX_SLOTS);
		return KMS_ERR_TOO_LARGE;
	}
	if (rv != CKR_OK) {
		log_rv(KMS_LOG_ERR, "C_GetSlotList", rv);
		return kms_p11_err(rv);
	}
	for (i = 0; i < n; i++) {
		if ((rv = p->fn->C_GetSlotInfo(slots[i], &si)) != CKR_OK) {
			log_rv(KMS_LOG_DEBUG, "C_GetSlotInfo", rv);
			continue;
		}
		if (!kms_p11uri_match_slot(&p->uri, slots[i], &si)) {
			continue;
		}
		if ((rv = token_info_retry(p, slots[i], &ti)) != CKR_OK) {
			log_rv(KMS_LOG_DEBUG, "C_GetTokenInfo", rv);
			continue;
		}
		if ((ti.flags & CKF_TOKEN_INITIALIZED) == 0 ||
		    !kms_p11uri_match_token(&p->uri, &ti)) {
			continue;
		}
		matches++;
		found = slots[i];
		found_ti = ti;
	}
	if (matches == 0) {
		if ((p->uri.has & KMS_P11URI_TOKEN) != 0) {
			(void)snprintf(p->find_why, sizeof(p->find_why),
				       "no token labelled \"%.*s\" matches the token URI",
				       (int)(p->uri.token_len > 64 ? 64 : p->uri.token_len),
				       (const char *)p->uri.token);
		} else {
			(void)snprintf(p->find_why, sizeof(p->find_why),
				       "no token matches the token URI (it names no label)");
		}
		kms_log(p->find_quiet ? KMS_LOG_DEBUG : KMS_LOG_ERR, "p11: %s", p->find_why);
		return KMS_ERR_HSM_UNAVAIL;
	}
	if (matches > 1) {
		kms_log(KMS_LOG_ERR,
			"p11: %u tokens match the token URI; name one (add serial= to the URI)",
			matches);
		return KMS_ERR_INVALID_ARG;
	}
	p->slot = found;
	kms_log(KMS_LOG_INFO, "p11: token \"%.*s\" (serial %.*s) in slot %lu",
		unpadded(found_ti.label, sizeof(found_ti.label)), (const char *)found_ti.label,
		unpadded(found_ti.serialNumber, sizeof(found_ti.serialNumber)),
		(const char *)found_ti.serialNumber, (unsigned long)found);
	return KMS_OK;
}

/* Read the PIN, C_Login as the user, wipe the PIN. */
static int
login(struct kms_p11 *p, CK_SESSION_HANDLE h)
{
	struct kms_secret *pin = NULL;
	CK_RV rv;
	int r;

	if (p->pin != NULL) {
		/* the caller's PIN in memory: borrowed, never copied */
		rv = p->fn->C_Login(h, CKU_USER, p->pin->data, (CK_ULONG)p->pin->len);
	} else {
		if (p->pin_credential[0] != '\0') {
			r = kms_pin_read_credential(&pin, p->pin_credential);
		} else {
			r = kms_pin_read_file(&pin, p->pin_path);
		}
		if (r != KMS_OK) {
			return r;
		}
		rv = p->fn->C_Login(h, CKU_USER, pin->data, (CK_ULONG)pin->len);
		kms_secret_free(pin);
		pin = NULL;
	}
	if (rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN) {
		return KMS_OK;
	}
	log_rv(KMS_LOG_ERR, "C_Login", rv);
	r = kms_p11_err(rv);
	if (r == KMS_ERR_HSM_PIN) {
		kms_log(KMS_LOG_ERR,
			"p11: the token refused the user PIN; not retrying on our own");
	}
	return r;
}

static int
open_session(struct kms_p11 *p, struct kms_p11_session *s)
{
	CK_SESSION_HANDLE h = CK_INVALID_HANDLE;
	CK_RV rv;

	rv = p->fn->C_OpenSession(p->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &h);
	if (rv != CKR_OK) {
		log_rv(KMS_LOG_ERR, "C_OpenSession", rv);
		return kms_p11_err(rv);
	}
	s->handle = h;
	s->open = 1;
	s->broken = 0;
	return KMS_OK;
}

/* A session AES-256 key with the usage flag flag and the attribute a; CK_INVALID_HANDLE if
 * the token refuses it. */
static CK_OBJECT_HANDLE
probe_key(struct kms_p11 *p, CK_SESSION_HANDLE h, CK_ATTRIBUTE_TYPE flag, CK_ATTRIBUTE a)
{
	static CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	static CK_KEY_TYPE type = CKK_AES;
	static CK_ULONG len = 32;
	static CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_MECHANISM gen = {CKM_AES_KEY_GEN, NULL, 0};
	CK_ATTRIBUTE tmpl[] = {
		{CKA_CLASS, &cls, sizeof(cls)},     {CKA_KEY_TYPE, &type, sizeof(type)},
		{CKA_VALUE_LEN, &len, sizeof(len)}, {CKA_TOKEN, &no, sizeof(no)},
		{flag, &yes, sizeof(yes)},          a,
	};
	CK_OBJECT_HANDLE k = CK_INVALID_HANDLE;

	if (p->fn->C_GenerateKey(h, &gen, tmpl, 6, &k) != CKR_OK) {
		return CK_INVALID_HANDLE;
	}
	return k;
}

/*
 * Does the token enforce CKA_ALLOWED_MECHANISMS and CKA_WRAP_TEMPLATE? Each is tried on session
 * keys made for the purpose: a key allowed AES-CBC only must refuse AES-ECB, and a wrapping key
 * whose template asks for a generic secret must refuse to wrap an AES key. SoftHSM enforces
 * both; NSS's softoken keeps the attributes on session keys without enforcing them and refuses
 * them on token keys (CKR_GENERAL_ERROR). A token that does not enforce one gets keys without
 * it, limited by their usage flags (CKA_WRAP, CKA_SIGN, ...) alone: said once. A refusal for
 * another reason (no AES-ECB, no RFC 3394 wrap) counts as enforced: the attribute stays, as it
 * always did.
 */
static void
probe_enforced(struct kms_p11 *p, CK_SESSION_HANDLE h)
{
	static CK_MECHANISM_TYPE cbc_only[] = {CKM_AES_CBC};
	static CK_KEY_TYPE generic = CKK_GENERIC_SECRET;
	static CK_ATTRIBUTE want_generic[] = {{CKA_KEY_TYPE, &generic, sizeof(generic)}};
	static CK_BBOOL yes = CK_TRUE;
	CK_MECHANISM ecb = {CKM_AES_ECB, NULL, 0};
	CK_MECHANISM kw = {CKM_AES_KEY_WRAP, NULL, 0};
	CK_ATTRIBUTE extractable = {CKA_EXTRACTABLE, &yes, sizeof(yes)};
	CK_OBJECT_HANDLE k, w, t;
	uint8_t buf[64];
	CK_ULONG n;

	p->enforces = 0;
	k = probe_key(p, h, CKA_ENCRYPT,
		      (CK_ATTRIBUTE){CKA_ALLOWED_MECHANISMS, cbc_only, sizeof(cbc_only)});
	if (k != CK_INVALID_HANDLE) {
		if (p->fn->C_EncryptInit(h, &ecb, k) == CKR_OK) {
			n = sizeof(buf);
			memset(buf, 0, sizeof(buf));
			(void)p->fn->C_Encrypt(h, buf, 16, buf, &n); /* ends the operation */
		} else {
			p->enforces |= KMS_P11_ENFORCES_ALLOWED_MECHS;
		}
		(void)p->fn->C_DestroyObject(h, k);
	}
	w = probe_key(p, h, CKA_WRAP,
		      (CK_ATTRIBUTE){CKA_WRAP_TEMPLATE, want_generic, sizeof(want_generic)});
	t = probe_key(p, h, CKA_ENCRYPT, extractable);
	if (w != CK_INVALID_HANDLE && t != CK_INVALID_HANDLE) {
		n = sizeof(buf);
		if (p->fn->C_WrapKey(h, &kw, w, t, buf, &n) != CKR_OK) {
			p->enforces |= KMS_P11_ENFORCES_WRAP_TEMPLATES;
		}
	}
	if (w != CK_INVALID_HANDLE) {
		(void)p->fn->C_DestroyObject(h, w);
	}
	if (t != CK_INVALID_HANDLE) {
		(void)p->fn->C_DestroyObject(h, t);
	}
	kms_memzero(buf, sizeof(buf));
	if (p->enforces != (KMS_P11_ENFORCES_ALLOWED_MECHS | KMS_P11_ENFORCES_WRAP_TEMPLATES) &&
	    !p->enforces_said) {
		p->enforces_said = 1;
		kms_log(KMS_LOG_WARN,
			"p11: the token does not enforce%s%s: keys are made without, and limited "
			"by their usage flags (CKA_WRAP, CKA_SIGN, ...) only",
			(p->enforces & KMS_P11_ENFORCES_ALLOWED_MECHS) == 0
				? " CKA_ALLOWED_MECHANISMS"
				: "",
			(p->enforces & KMS_P11_ENFORCES_WRAP_TEMPLATES) == 0
				? " CKA_WRAP_TEMPLATE/CKA_UNWRAP_TEMPLATE"
				: "");
	}
}

/* start() without the lock: C_Initialize, find the token, open the first session, C_Login. */
static int
start_locked(struct kms_p11 *p)
{
	CK_C_INITIALIZE_ARGS args;
	CK_RV rv;
	unsigned int i;
	int r;

	for (i = 0; i < KMS_P11_MAX_SESSIONS; i++) {
		p->sessions[i].open = 0;
		p->sessions[i].broken = 0;
	}
	atomic_store(&p->created, 0);
	atomic_store(&p->destroyed, 0);

	/* SoftHSM turns all its locking off with a NULL argument (hsm-notes, pitfall 1). */
	memset(&args, 0, sizeof(args));
	args.flags = CKF_OS_LOCKING_OK;
	args.pReserved = p->module_params[0] != '\0' ? p->module_params : NULL;
	rv = p->fn->C_Initialize(&args);
	if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		kms_log(KMS_LOG_ERR,
			"p11: module %s is already initialized by someone else in this process; "
			"the adapter must own it",
			p->module_path);
		return KMS_ERR_INVALID_ARG;
	}
	if (rv != CKR_OK) {
		log_rv(KMS_LOG_ERR, "C_Initialize", rv);
		return kms_p11_err(rv);
	}
	p->initialized = 1;
	atomic_fetch_add(&p->generation, 1);
	if ((r = find_token(p)) != KMS_OK) {
		return r;
	}
	if ((r = open_session(p, &p->sessions[0])) != KMS_OK) {
		return r;
	}
	if ((r = login(p, p->sessions[0].handle)) != KMS_OK) {
		return r;
	}
	probe_enforced(p, p->sessions[0].handle);
	return KMS_OK;
}

/*
 * The start-up lock: an exclusive flock on the PIN's file, held from C_Initialize to C_Login,
 * so that the processes that log in to a token with the same PIN file (kmsd's kms-hsmd
 * processes, kms-admin's) start one at a time. SoftHSM rewrites the token's file at every
 * login, and a process that initialises or logs in meanwhile may find no token or have a
 * good PIN refused (integration.recycle saw both). Waits borrow_ms at most, then goes on
 * without it: the lock only spares a token's quirk, and a stuck neighbour must not stop us.
 * Returns the descriptor to give start_unlock, or -1 (no PIN file: the PIN is in memory, or
 * the file cannot be opened and the login will say why).
 */
static int
start_lock(const struct kms_p11 *p)
{
	char cred[PATH_MAX];
	const char *path = p->pin_path;
	uint64_t deadline = kms_mono_ms() + p->borrow_ms;
	int fd;

	if (p->pin != NULL) {
		return -1;
	}
	if (p->pin_credential[0] != '\0') {
		if (kms_pin_credential_path(cred, sizeof(cred), p->pin_credential) != KMS_OK) {
			return -1;
		}
		path = cred;
	}
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		return -1;
	}
	while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if ((errno != EWOULDBLOCK && errno != EINTR) || kms_mono_ms() >= deadline) {
			kms_log(KMS_LOG_WARN,
				"p11: the start-up lock on the PIN file is still held by another "
				"process after %u ms; starting without it",
				p->borrow_ms);
			(void)close(fd);
			return -1;
		}
		kms_sleep_ms(5);
	}
	return fd;
}

static void
start_unlock(int fd)
{
	if (fd >= 0) {
		(void)flock(fd, LOCK_UN);
		(void)close(fd);
	}
}

/*
 * Initialize the (loaded) module and log in: C_Initialize, find the token, open the first
 * session, C_Login, under the start-up lock. Runs with no session out and nobody else touching
 * the module.
 */
static int
start(struct kms_p11 *p)
{
	int fd = start_lock(p);
	int r = start_locked(p);

	start_unlock(fd);
	return r;
}

/* C_Finalize if initialized (it closes every session and frees every session object). */
static void
finalize(struct kms_p11 *p)
{
	CK_RV rv;
	unsigned int i;

	if (!p->initialized) {
		return;
	}
	rv = p->fn->C_Finalize(NULL);
	if (rv != CKR_OK) {
		log_rv(KMS_LOG_WARN, "C_Finalize", rv);
	}
	p->initialized = 0;
	for (i = 0; i < KMS_P11_MAX_SESSIONS; i++) {
		p->sessions[i].open = 0;
	}
}

/* ---- state ---------------------------------------------------------------------------------- */

/*
 * Put the layer down after a token loss seen in an operation (lock not held). During a restart's
 * drain the state is RESTARTING: last_err remembers the loss in case the drain gives up.
 */
static void
set_down(struct kms_p11 *p)
{
	(void)pthread_mutex_lock(&p->lock);
	if (p->state == P11_RESTARTING) {
		if (p->last_err == KMS_OK) {
			p->last_err = KMS_ERR_HSM_UNAVAIL;
		}
	} else if (p->state == P11_UP) {
		p->state = P11_DOWN;
		p->last_err = KMS_ERR_HSM_UNAVAIL;
		p->retry_delay_ms = p->retry_ms;
		p->next_retry_ms = kms_mono_ms() + p->retry_delay_ms;
		kms_log(KMS_LOG_ERR,
			"p11: token lost; sessions fail until it is back "
			"(automatic restart in %u ms)",
			p->retry_delay_ms);
		(void)pthread_cond_broadcast(&p->cond);
	}
	(void)pthread_mutex_unlock(&p->lock);
}

/*
 * Restart the module. Called with p->lock held, state already P11_RESTARTING and no session
 * out; returns with the lock held and the state UP or DOWN.
 */
static int
restart_locked(struct kms_p11 *p, const char *why)
{
	uint64_t started = kms_mono_ms();
	unsigned int i;
	int r;

	(void)pthread_mutex_unlock(&p->lock);
	kms_log(KMS_LOG_INFO, "p11: %s: re-initializing the module", why);
	p->find_quiet = 1;
	p->find_why[0] = '\0';
	finalize(p);
	r = start(p);
	/*
	 * SoftHSM shows no token, for a moment, to a process that initialises while another one
	 * logs in and rewrites the token's file (several kms-hsmd processes recycling): try again
	 * shortly (30, 60, 120 ms) before the token counts as lost.
	 */
	for (i = 0; i < 3 && r == KMS_ERR_HSM_UNAVAIL; i++) {
		kms_sleep_ms(30u << i);
		finalize(p);
		r = start(p);
	}
	p->find_quiet = 0;
	(void)pthread_mutex_lock(&p->lock);
	if (r == KMS_OK) {
		p->state = P11_UP;
		p->last_err = KMS_OK;
		p->retry_delay_ms = p->retry_ms;
		atomic_fetch_add(&p->restarts, 1);
		kms_log(KMS_LOG_INFO, "p11: %s: token ready again after %lu ms", why,
			(unsigned long)(kms_mono_ms() - started));
	} else {
		p->state = P11_DOWN;
		p->last_err = r;
		p->next_retry_ms = kms_mono_ms() + p->retry_delay_ms;
		if (r == KMS_ERR_HSM_PIN) {
			kms_log(KMS_LOG_ERR,
				"p11: %s: restart failed (%s); no automatic retry "
				"after a refused PIN: fix it, then reconnect",
				why, kms_err_name(r));
		} else {
			kms_log(KMS_LOG_ERR,
				"p11: %s: restart failed (%s%s%s); next automatic try in %u ms",
				why, kms_err_name(r),
				r == KMS_ERR_HSM_UNAVAIL && p->find_why[0] ? ": " : "",
				r == KMS_ERR_HSM_UNAVAIL ? p->find_why : "", p->retry_delay_ms);
		}
		p->retry_delay_ms = p->retry_delay_ms > KMS_P11_MAX_RETRY_MS / 2
					    ? KMS_P11_MAX_RETRY_MS
					    : p->retry_delay_ms * 2;
	}
	(void)pthread_cond_broadcast(&p->cond);
	return r;
}

static int
same_process(const struct kms_p11 *p)
{
	if (p->pid != getpid()) {
		kms_log(KMS_LOG_ERR,
			"p11: used in a child process; initialize the module after fork");
		return 0;
	}
	return 1;
}

/* An explicit restart: drain the pool (bounded), then restart. */
static int
restart_now(struct kms_p11 *p, const char *why)
{
	uint64_t deadline;
	enum p11_state prev;
	int r;

	if (!same_process(p)) {
		return KMS_ERR_INTERNAL;
	}
	deadline = kms_mono_ms() + p->borrow_ms;
	(void)pthread_mutex_lock(&p->lock);
	while (p->state == P11_RESTARTING) {
		if (wait_until(p, deadline) == ETIMEDOUT) {
			(void)pthread_mutex_unlock(&p->lock);
			return KMS_ERR_HSM_BUSY;
		}
	}
	prev = p->state;
	p->state = P11_RESTARTING; /* no new borrows while the pool drains */
	while (p->sessions_out > 0) {
		if (wait_until(p, deadline) == ETIMEDOUT) {
			kms_log(KMS_LOG_WARN, "p11: %s: %u sessions still out; not restarting", why,
				p->sessions_out);
			p->state = prev;
			if (prev == P11_UP && p->last_err != KMS_OK) {
				/* the token was lost while we waited */
				p->state = P11_DOWN;
				p->next_retry_ms = kms_mono_ms() + p->retry_delay_ms;
			}
			(void)pthread_cond_broadcast(&p->cond);
			(void)pthread_mutex_unlock(&p->lock);
			return KMS_ERR_HSM_BUSY;
		}
	}
	p->retry_delay_ms = p->retry_ms;
	r = restart_locked(p, why);
	(void)pthread_mutex_unlock(&p->lock);
	return r;
}

/* ---- public: lifetime ------------------------------------------------------------------------ */

static int
copy_str(char *dst, size_t cap, const char *src)
{
	size_t n = strnlen(src, cap);

	if (n == cap) {
		return KMS_ERR_TOO_LARGE;
	}
	memcpy(dst, src, n + 1);
	return KMS_OK;
}

/* Check cfg and copy it into p. */
static int
configure(struct kms_p11 *p, const struct kms_p11_config *cfg)
{
	struct kms_p11uri_diag diag;
	int r;

	if (cfg->module_path == NULL || cfg->module_path[0] != '/' ||
	    copy_str(p->module_path, sizeof(p->module_path), cfg->module_path) != KMS_OK) {
		kms_log(KMS_LOG_ERR, "p11: the module must be given as an absolute path");
		return KMS_ERR_INVALID_ARG;
	}
	if (cfg->module_params != NULL &&
	    copy_str(p->module_params, sizeof(p->module_params), cfg->module_params) != KMS_OK) {
		kms_log(KMS_LOG_ERR, "p11: the module's parameters are longer than %u bytes",
			KMS_P11_MAX_PARAMS);
		return KMS_ERR_INVALID_ARG;
	}
	if ((cfg->pin_file != NULL) + (cfg->pin_credential != NULL) + (cfg->pin != NULL) != 1) {
		kms_log(KMS_LOG_ERR,
			"p11: give exactly one of a PIN file, a PIN credential or a PIN in memory");
		return KMS_ERR_INVALID_ARG;
	}
	if (cfg->pin != NULL) {
		if (cfg->pin->data == NULL || cfg->pin->len == 0 || cfg->pin->len > 255) {
			kms_log(KMS_LOG_ERR, "p11: the PIN in memory is empty or too long");
			return KMS_ERR_INVALID_ARG;
		}
		p->pin = cfg->pin;
	}
	if (cfg->pin_file != NULL &&
	    (cfg->pin_file[0] != '/' ||
	     copy_str(p->pin_path, sizeof(p->pin_path), cfg->pin_file) != KMS_OK)) {
		kms_log(KMS_LOG_ERR, "p11: the PIN file must be given as an absolute path");
		return KMS_ERR_INVALID_ARG;
	}
	if (cfg->pin_credential != NULL && (cfg->pin_credential[0] == '\0' ||
					    copy_str(p->pin_credential, sizeof(p->pin_credential),
						     cfg->pin_credential) != KMS_OK)) {
		kms_log(KMS_LOG_ERR, "p11: bad PIN credential name");
		return KMS_ERR_INVALID_ARG;
	}
	if (cfg->num_sessions > KMS_P11_MAX_SESSIONS) {
		kms_log(KMS_LOG_ERR, "p11: at most %u sessions", KMS_P11_MAX_SESSIONS);
		return KMS_ERR_INVALID_ARG;
	}
	p->num_sessions = cfg->num_sessions != 0 ? cfg->num_sessions : KMS_P11_DEFAULT_SESSIONS;
	p->borrow_ms = cfg->borrow_ms != 0 ? cfg->borrow_ms : KMS_P11_DEFAULT_BORROW_MS;
	p->retry_ms = cfg->retry_ms != 0 ? cfg->retry_ms : KMS_P11_DEFAULT_RETRY_MS;
	if (p->retry_ms > KMS_P11_MAX_RETRY_MS) {
		p->retry_ms = KMS_P11_MAX_RETRY_MS;
	}
	p->retry_delay_ms = p->retry_ms;
	p->recycle_after = cfg->recycle_after != 0 ? cfg->recycle_after : KMS_P11_DEFAULT_RECYCLE;

	/* The URI itself is never logged: a pin-value in it would be a PIN in the log. */
	if (cfg->token_uri == NULL) {
		kms_log(KMS_LOG_ERR, "p11: no token URI");
		return KMS_ERR_INVALID_ARG;
	}
	r = kms_p11uri_parse(&p->uri, &diag, cfg->token_uri,
			     strnlen(cfg->token_uri, KMS_P11URI_MAX_LEN + 1));
	if (r != KMS_OK) {
		kms_log(KMS_LOG_ERR, "p11: token URI refused at byte %zu: %s", diag.offset,
			diag.reason);
		return r;
	}
	if ((p->uri.has & KMS_P11URI_MODULE_NAME) != 0) {
		kms_log(KMS_LOG_ERR, "p11: token URI: module-name is not supported; configure the "
				     "module's absolute path");
		return KMS_ERR_UNSUPPORTED;
	}
	if ((p->uri.has & KMS_P11URI_MODULE_PATH) != 0 &&
	    strcmp(p->uri.module_path, p->module_path) != 0) {
		kms_log(KMS_LOG_ERR,
			"p11: token URI: module-path differs from the configured module");
		return KMS_ERR_INVALID_ARG;
	}
	if ((p->uri.has & KMS_P11URI_PIN_SOURCE) != 0) {
		kms_log(KMS_LOG_ERR,
			"p11: token URI: pin-source is not used; configure the PIN file "
			"or credential instead");
		return KMS_ERR_UNSUPPORTED;
	}
	return KMS_OK;
}

static void
destroy(struct kms_p11 *p)
{
	if (p->dl != NULL) {
		if (p->pid == getpid()) {
			finalize(p);
		}
		(void)dlclose(p->dl);
	}
	(void)pthread_cond_destroy(&p->cond);
	(void)pthread_mutex_destroy(&p->lock);
	kms_memzero(p, sizeof(*p));
	free(p);
}

int
kms_p11_new(struct kms_p11 **out, const struct kms_p11_config *cfg)
{
	pthread_condattr_t ca;
	struct kms_p11 *p;
	unsigned int i;
	int r;

	*out = NULL;
	if (cfg == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		return KMS_ERR_NOMEM;
	}
	if (pthread_condattr_init(&ca) != 0) {
		free(p);
		return KMS_ERR_NOMEM;
	}
	if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
	    pthread_cond_init(&p->cond, &ca) != 0) {
		(void)pthread_condattr_destroy(&ca);
		free(p);
		return KMS_ERR_INTERNAL;
	}
	(void)pthread_condattr_destroy(&ca);
	if (pthread_mutex_init(&p->lock, NULL) != 0) {
		(void)pthread_cond_destroy(&p->cond);
		free(p);
		return KMS_ERR_INTERNAL;
	}
	p->pid = getpid();
	p->state = P11_DOWN;
	for (i = 0; i < KMS_P11_MAX_SESSIONS; i++) {
		p->sessions[i].p11 = p;
		p->sessions[i].handle = CK_INVALID_HANDLE;
	}
	if ((r = configure(p, cfg)) != KMS_OK || (r = load_module(p)) != KMS_OK ||
	    (r = start(p)) != KMS_OK) {
		destroy(p);
		return r;
	}
	p->state = P11_UP;
	p->last_err = KMS_OK;
	*out = p;
	return KMS_OK;
}

void
kms_p11_free(struct kms_p11 *p)
{
	if (p == NULL) {
		return;
	}
	if (p->sessions_out > 0) {
		kms_log(KMS_LOG_ERR, "p11: freed with %u sessions still borrowed", p->sessions_out);
	}
	destroy(p);
}

/* ---- public: sessions ---------------------------------------------------------------------------
 */

int
kms_p11_borrow(struct kms_p11 *p, struct kms_p11_session **out)
{
	struct kms_p11_session *s;
	uint64_t deadline;
	unsigned int i;
	int r;

	*out = NULL;
	if (!same_process(p)) {
		return KMS_ERR_INTERNAL;
	}
	deadline = kms_mono_ms() + p->borrow_ms;
	(void)pthread_mutex_lock(&p->lock);
	for (;;) {
		if (p->state == P11_RESTARTING) {
			if (wait_until(p, deadline) == ETIMEDOUT) {
				r = KMS_ERR_HSM_BUSY;
				break;
			}
			continue;
		}
		if (p->state == P11_DOWN) {
			if (p->last_err == KMS_ERR_HSM_PIN) {
				r = KMS_ERR_HSM_PIN;
				break;
			}
			/* Restart only with the whole pool back, and not before the back-off. */
			if (p->sessions_out > 0 || kms_mono_ms() < p->next_retry_ms) {
				r = KMS_ERR_HSM_UNAVAIL;
				break;
			}
			p->state = P11_RESTARTING;
			if ((r = restart_locked(p, "automatic restart")) != KMS_OK) {
				break;
			}
			continue;
		}
		s = NULL;
		for (i = 0; i < p->num_sessions && s == NULL; i++) {
			if (!p->sessions[i].borrowed) {
				s = &p->sessions[i];
			}
		}
		if (s == NULL) {
			if (wait_until(p, deadline) == ETIMEDOUT) {
				r = KMS_ERR_HSM_BUSY;
				break;
			}
			continue;
		}
		if (!s->open && (r = open_session(p, s)) != KMS_OK) {
			if (r == KMS_ERR_HSM_UNAVAIL) {
				(void)pthread_mutex_unlock(&p->lock);
				set_down(p);
				return r;
			}
			break;
		}
		s->borrowed = 1;
		s->broken = 0;
		p->sessions_out++;
		*out = s;
		r = KMS_OK;
		break;
	}
	(void)pthread_mutex_unlock(&p->lock);
	return r;
}

void
kms_p11_return(struct kms_p11_session *s)
{
	struct kms_p11 *p;

	if (s == NULL) {
		return;
	}
	p = s->p11;
	(void)pthread_mutex_lock(&p->lock);
	if (s->broken && s->open && p->initialized && p->pid == getpid()) {
		/* Its objects and operation state go with it; a fresh one is opened on demand. */
		(void)p->fn->C_CloseSession(s->handle);
		s->open = 0;
	}
	s->broken = 0;
	if (s->borrowed) {
		s->borrowed = 0;
		p->sessions_out--;
	}
	(void)pthread_cond_broadcast(&p->cond);
	(void)pthread_mutex_unlock(&p->lock);
}

CK_RV
kms_p11_token_info(const struct kms_p11_session *s, CK_SLOT_ID slot, CK_TOKEN_INFO *ti)
{
	return token_info_retry(s->p11, slot, ti);
}

CK_FUNCTION_LIST *
kms_p11_fn(const struct kms_p11_session *s)
{
	return s->p11->fn;
}

CK_SESSION_HANDLE
kms_p11_handle(const struct kms_p11_session *s)
{
	return s->handle;
}

int
kms_p11_check(struct kms_p11_session *s, CK_RV rv, const char *fn)
{
	struct kms_p11 *p = s->p11;
	int r;

	if (rv == CKR_OK) {
		return KMS_OK;
	}
	r = kms_p11_err(rv);
	log_rv(r == KMS_ERR_HSM || r == KMS_ERR_HSM_UNAVAIL || r == KMS_ERR_INTERNAL ? KMS_LOG_ERR
										     : KMS_LOG_WARN,
	       fn, rv);
	/*
	 * Opaque failures may mean the token went away: SoftHSM answers everything that touches
	 * a removed token's files with CKR_GENERAL_ERROR. Ask the token itself.
	 */
	if ((rv == CKR_GENERAL_ERROR || rv == CKR_FUNCTION_FAILED) && !token_present(p)) {
		kms_log(KMS_LOG_ERR,
			"p11: %s failed and the token no longer answers as the "
			"configured one: treating it as removed",
			fn);
		r = KMS_ERR_HSM_UNAVAIL;
	}
	if (r == KMS_ERR_HSM_UNAVAIL) {
		s->broken = 1;
		set_down(p);
	}
	return r;
}

/* ---- public: objects and attributes
 * ----------------------------------------------------------------- */

unsigned int
kms_p11_enforces(const struct kms_p11_session *s)
{
	return s->p11->enforces;
}

CK_ULONG
kms_p11_fit_template(const struct kms_p11_session *s, CK_ATTRIBUTE *tmpl, CK_ULONG n)
{
	unsigned int enforces = s->p11->enforces;
	CK_ULONG i, k = 0;

	for (i = 0; i < n; i++) {
		CK_ATTRIBUTE_TYPE t = tmpl[i].type;

		if ((t == CKA_ALLOWED_MECHANISMS &&
		     (enforces & KMS_P11_ENFORCES_ALLOWED_MECHS) == 0) ||
		    ((t == CKA_WRAP_TEMPLATE || t == CKA_UNWRAP_TEMPLATE) &&
		     (enforces & KMS_P11_ENFORCES_WRAP_TEMPLATES) == 0)) {
			continue;
		}
		tmpl[k++] = tmpl[i];
	}
	return k;
}

int
kms_p11_create_object(struct kms_p11_session *s, CK_OBJECT_HANDLE *out, CK_ATTRIBUTE *tmpl,
		      CK_ULONG num_attrs)
{
	CK_ATTRIBUTE fit[KMS_P11_MAX_TEMPLATE];
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
	int r;

	*out = CK_INVALID_HANDLE;
	if (num_attrs > KMS_P11_MAX_TEMPLATE) {
		return KMS_ERR_INVALID_ARG;
	}
	memcpy(fit, tmpl, num_attrs * sizeof(fit[0])); /* the caller's template stays as it is */
	num_attrs = kms_p11_fit_template(s, fit, num_attrs);
	r = kms_p11_check(s, s->p11->fn->C_CreateObject(s->handle, fit, num_attrs, &h),
			  "C_CreateObject");
	if (r != KMS_OK) {
		return r;
	}
	atomic_fetch_add(&s->p11->created, 1);
	*out = h;
	return KMS_OK;
}

int
kms_p11_generate_key(struct kms_p11_session *s, CK_OBJECT_HANDLE *out, CK_MECHANISM *mech,
		     CK_ATTRIBUTE *tmpl, CK_ULONG num_attrs)
{
	CK_ATTRIBUTE fit[KMS_P11_MAX_TEMPLATE];
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
	int r;

	*out = CK_INVALID_HANDLE;
	if (num_attrs > KMS_P11_MAX_TEMPLATE) {
		return KMS_ERR_INVALID_ARG;
	}
	memcpy(fit, tmpl, num_attrs * sizeof(fit[0])); /* the caller's template stays as it is */
	num_attrs = kms_p11_fit_template(s, fit, num_attrs);
	r = kms_p11_check(s, s->p11->fn->C_GenerateKey(s->handle, mech, fit, num_attrs, &h),
			  "C_GenerateKey");
	if (r != KMS_OK) {
		return r;
	}
	atomic_fetch_add(&s->p11->created, 1);
	*out = h;
	return KMS_OK;
}

int
kms_p11_destroy_object(struct kms_p11_session *s, CK_OBJECT_HANDLE obj)
{
	int r;

	r = kms_p11_check(s, s->p11->fn->C_DestroyObject(s->handle, obj), "C_DestroyObject");
	if (r == KMS_OK) {
		atomic_fetch_add(&s->p11->destroyed, 1);
	}
	return r;
}

void
kms_p11_note_created(struct kms_p11_session *s, unsigned int num_objects)
{
	atomic_fetch_add(&s->p11->created, num_objects);
}

int
kms_p11_get_attribute(struct kms_p11_session *s, void *out, size_t cap, size_t *out_len,
		      CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_TYPE type)
{
	CK_ATTRIBUTE a;
	CK_ULONG len;
	int r;

	*out_len = 0;
	a.type = type;
	a.pValue = NULL;
	a.ulValueLen = 0;
	r = kms_p11_check(s, s->p11->fn->C_GetAttributeValue(s->handle, obj, &a, 1),
			  "C_GetAttributeValue (length)");
	if (r != KMS_OK) {
		return r;
	}
	if (a.ulValueLen == CK_UNAVAILABLE_INFORMATION) {
		kms_log(KMS_LOG_ERR, "p11: attribute 0x%lx: length unavailable",
			(unsigned long)type);
		return KMS_ERR_HSM;
	}
	if (a.ulValueLen > KMS_P11_MAX_ATTR || a.ulValueLen > cap) {
		kms_log(KMS_LOG_ERR, "p11: attribute 0x%lx: %lu bytes, more than the %zu expected",
			(unsigned long)type, (unsigned long)a.ulValueLen,
			cap < KMS_P11_MAX_ATTR ? cap : (size_t)KMS_P11_MAX_ATTR);
		return KMS_ERR_TOO_LARGE;
	}
	len = a.ulValueLen;
	if (len == 0) {
		return KMS_OK;
	}
	a.pValue = out;
	r = kms_p11_check(s, s->p11->fn->C_GetAttributeValue(s->handle, obj, &a, 1),
			  "C_GetAttributeValue (value)");
	if (r != KMS_OK) {
		return r;
	}
	if (a.ulValueLen != len) {
		kms_log(KMS_LOG_ERR, "p11: attribute 0x%lx changed length between two reads",
			(unsigned long)type);
		return KMS_ERR_HSM;
	}
	*out_len = (size_t)len;
	return KMS_OK;
}

int
kms_p11_get_bool(struct kms_p11_session *s, int *out, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_TYPE type)
{
	CK_BBOOL b = CK_FALSE;
	size_t len;
	int r;

	*out = 0;
	if ((r = kms_p11_get_attribute(s, &b, sizeof(b), &len, obj, type)) != KMS_OK) {
		return r;
	}
	if (len != sizeof(b)) {
		kms_log(KMS_LOG_ERR, "p11: attribute 0x%lx is not a CK_BBOOL", (unsigned long)type);
		return KMS_ERR_HSM;
	}
	*out = b != CK_FALSE;
	return KMS_OK;
}

int
kms_p11_get_ulong(struct kms_p11_session *s, CK_ULONG *out, CK_OBJECT_HANDLE obj,
		  CK_ATTRIBUTE_TYPE type)
{
	CK_ULONG v = 0;
	size_t len;
	int r;

	*out = 0;
	if ((r = kms_p11_get_attribute(s, &v, sizeof(v), &len, obj, type)) != KMS_OK) {
		return r;
	}
	if (len != sizeof(v)) {
		kms_log(KMS_LOG_ERR, "p11: attribute 0x%lx is not a CK_ULONG", (unsigned long)type);
		return KMS_ERR_HSM;
	}
	*out = v;
	return KMS_OK;
}

/* ---- public: health, restarts, counters --------------------------------------------------------
 */

int
kms_p11_ping(struct kms_p11 *p)
{
	struct kms_p11_session *s;
	CK_TOKEN_INFO ti;
	int r;

	if ((r = kms_p11_borrow(p, &s)) != KMS_OK) {
		return r;
	}
	r = kms_p11_check(s, p->fn->C_GetTokenInfo(p->slot, &ti), "C_GetTokenInfo");
	if (r == KMS_OK &&
	    ((ti.flags & CKF_TOKEN_INITIALIZED) == 0 || !kms_p11uri_match_token(&p->uri, &ti))) {
		kms_log(KMS_LOG_ERR, "p11: the slot holds another token now");
		s->broken = 1;
		set_down(p);
		r = KMS_ERR_HSM_UNAVAIL;
	}
	kms_p11_return(s);
	return r;
}

int
kms_p11_reconnect(struct kms_p11 *p)
{
	return restart_now(p, "reconnect");
}

int
kms_p11_recycle(struct kms_p11 *p)
{
	return restart_now(p, "recycle");
}

int
kms_p11_recycle_due(struct kms_p11 *p)
{
	return atomic_load(&p->created) >= p->recycle_after;
}

void
kms_p11_get_stats(struct kms_p11 *p, struct kms_p11_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->objects_created = atomic_load(&p->created);
	out->objects_destroyed = atomic_load(&p->destroyed);
	out->restarts = atomic_load(&p->restarts);
	out->generation = atomic_load(&p->generation);
	(void)pthread_mutex_lock(&p->lock);
	out->available = p->state == P11_UP;
	out->sessions_out = p->sessions_out;
	(void)pthread_mutex_unlock(&p->lock);
}
