/* SPDX-License-Identifier: Apache-2.0 */
#include "tools/ceremony-p11.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "common/hex.h"
#include "common/log.h"
#include "hsm/p11attr.h"
#include "hsm/p11uri.h"

#include "common/banned.h"

/*
 * Attacker model: the ceremony runs on an offline machine with custodians present; what we
 * defend against is a secret left behind (a PIN in the scroll-back or a core file, B or a key
 * copy in memory or in the token) and a half-done step that looks done. Hence: PINs only in
 * locked memory and never echoed; B used only through a session object that is destroyed in the
 * same call; every key made here either ends locked (CKA_EXTRACTABLE false, read back) or is
 * destroyed again.
 */

#define CLIENT_KEY_MAX_FILE (64u * 1024u)
#define RSA_MIN_BITS        2048
#define RSA_MAX_BITS        8192

static const CK_OBJECT_CLASS class_public = CKO_PUBLIC_KEY;
static const CK_KEY_TYPE type_rsa = CKK_RSA;

static void set_err(char *err, size_t err_len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
set_err(char *err, size_t err_len, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || err_len == 0) {
		return;
	}
	va_start(ap, fmt);
	(void)vsnprintf(err, err_len, fmt, ap);
	va_end(ap);
}

/* 1..max printable ASCII octets; *out_len the length. */
static int
printable(const char *s, size_t max, size_t *out_len)
{
	size_t n;

	if (s == NULL) {
		return 0;
	}
	for (n = 0; s[n] != '\0'; n++) {
		if (n >= max || s[n] < 0x20 || s[n] > 0x7e) {
			return 0;
		}
	}
	*out_len = n;
	return n > 0;
}

/* ---- PIN entry ----------------------------------------------------------------------------- */

static volatile sig_atomic_t got_signal;

static void
on_signal(int sig)
{
	got_signal = sig;
}

static const int stop_signals[] = {SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGTSTP};
#define NUM_STOP_SIGNALS (sizeof(stop_signals) / sizeof(stop_signals[0]))

/*
 * One line from fd into buf (cap octets, the newline not stored) with read(2), one octet at a
 * time so that nothing after the newline is consumed. A line longer than cap is read to its end
 * and reported as *out_too_long. EOF after at least one octet ends the line. KMS_OK, or
 * KMS_ERR_IO (EOF before anything, a read error, a stop signal).
 */
static int
read_line(int fd, uint8_t *buf, size_t cap, size_t *out_len, int *out_too_long)
{
	size_t n = 0;
	int any = 0;
	uint8_t c = 0;
	ssize_t got;
	int r = KMS_ERR_IO;

	*out_len = 0;
	*out_too_long = 0;
	for (;;) {
		got = read(fd, &c, 1);
		if (got < 0 && errno == EINTR && got_signal == 0) {
			continue;
		}
		if (got < 0) {
			goto out;
		}
		if (got == 0) {
			if (!any) {
				goto out;
			}
			break;
		}
		any = 1;
		if (c == '\n') {
			break;
		}
		if (n < cap) {
			buf[n++] = c;
		} else {
			*out_too_long = 1;
		}
	}
	*out_len = n;
	r = KMS_OK;
out:
	kms_memzero(&c, sizeof(c));
	return r;
}

static int
pin_valid(const char *what, const uint8_t *p, size_t len, int too_long)
{
	size_t i;

	if (too_long || len > KMS_CER_MAX_PIN) {
		kms_log(KMS_LOG_ERR, "ceremony: %s: longer than %d characters", what,
			KMS_CER_MAX_PIN);
		return 0;
	}
	if (len < KMS_CER_MIN_PIN) {
		kms_log(KMS_LOG_ERR, "ceremony: %s: shorter than %d characters", what,
			KMS_CER_MIN_PIN);
		return 0;
	}
	for (i = 0; i < len; i++) {
		if (p[i] < 0x20 || p[i] > 0x7e) {
			kms_log(KMS_LOG_ERR,
				"ceremony: %s: only printable ASCII characters are allowed", what);
			return 0;
		}
	}
	if (p[0] == ' ' || p[len - 1] == ' ') {
		kms_log(KMS_LOG_ERR, "ceremony: %s: no blank at the start or the end", what);
		return 0;
	}
	return 1;
}

static void
write_all(int fd, const char *s)
{
	size_t len = strlen(s);
	ssize_t w;

	while (len > 0) {
		w = write(fd, s, len);
		if (w < 0 && errno == EINTR) {
			continue;
		}
		if (w <= 0) {
			return;
		}
		s += w;
		len -= (size_t)w;
	}
}

/*
 * One entry on the terminal in_fd (prompt on out_fd) with echo off. The stop signals are caught
 * (without SA_RESTART, so read(2) returns) while echo is off; echo is restored first, then the
 * signals' previous actions, then a caught signal is raised again.
 */
static int
tty_ask(int in_fd, int out_fd, const char *prompt, uint8_t *buf, size_t cap, size_t *out_len,
	int *out_too_long)
{
	struct sigaction sa, old_sa[NUM_STOP_SIGNALS];
	struct termios old_tio, tio;
	int tio_set = 0;
	int sig;
	size_t i;
	int r = KMS_ERR_IO;

	*out_len = 0;
	*out_too_long = 0;
	if (tcgetattr(in_fd, &old_tio) != 0) {
		kms_log(KMS_LOG_ERR, "ceremony: cannot read the terminal's settings: %s",
			strerror(errno));
		return KMS_ERR_IO;
	}
	got_signal = 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	(void)sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART: a signal ends the read */
	for (i = 0; i < NUM_STOP_SIGNALS; i++) {
		(void)sigaction(stop_signals[i], &sa, &old_sa[i]);
	}
	tio = old_tio;
	tio.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL);
	if (tcsetattr(in_fd, TCSAFLUSH, &tio) != 0) {
		kms_log(KMS_LOG_ERR, "ceremony: cannot turn the terminal's echo off: %s",
			strerror(errno));
		goto out;
	}
	tio_set = 1;
	write_all(out_fd, prompt);
	r = read_line(in_fd, buf, cap, out_len, out_too_long);
	write_all(out_fd, "\n");
out:
	if (tio_set) {
		(void)tcsetattr(in_fd, TCSAFLUSH, &old_tio);
	}
	for (i = 0; i < NUM_STOP_SIGNALS; i++) {
		(void)sigaction(stop_signals[i], &old_sa[i], NULL);
	}
	sig = got_signal;
	got_signal = 0;
	if (sig != 0) {
		kms_memzero(buf, cap);
		*out_len = 0;
		r = KMS_ERR_IO;
		(void)raise(sig); /* with its previous action: usually the end of the process */
		kms_log(KMS_LOG_ERR, "ceremony: PIN entry interrupted");
	}
	return r;
}

/* One entry (terminal or line of stdin) into a new secret of exactly the PIN's length. */
static int
ask_one(const char *what, int tty_in, int tty_out, const char *prompt, struct kms_secret **out)
{
	struct kms_secret *buf = NULL;
	struct kms_secret *pin = NULL;
	size_t len = 0;
	int too_long = 0;
	int r = KMS_ERR_INTERNAL;

	*out = NULL;
	buf = kms_secret_new(KMS_CER_MAX_PIN + 1);
	if (buf == NULL) {
		r = KMS_ERR_NOMEM;
		goto out;
	}
	if (tty_in >= 0) {
		r = tty_ask(tty_in, tty_out, prompt, buf->data, buf->len, &len, &too_long);
	} else {
		r = read_line(STDIN_FILENO, buf->data, buf->len, &len, &too_long);
	}
	if (r != KMS_OK) {
		kms_log(KMS_LOG_ERR, "ceremony: %s: no entry (end of input or read error)", what);
		goto out;
	}
	if (!pin_valid(what, buf->data, len, too_long)) {
		r = KMS_ERR_RANGE;
		goto out;
	}
	pin = kms_secret_new(len);
	if (pin == NULL) {
		r = KMS_ERR_NOMEM;
		goto out;
	}
	memcpy(pin->data, buf->data, len);
	*out = pin;
	pin = NULL; /* transferred */
	r = KMS_OK;
out:
	kms_secret_free(pin);
	kms_secret_free(buf);
	return r;
}

int
kms_cer_read_pin(const char *what, int confirm, struct kms_secret **out)
{
	struct kms_secret *first = NULL;
	struct kms_secret *second = NULL;
	char prompt[128];
	int tty_in = -1, tty_out = -1, tty_fd = -1;
	int r = KMS_ERR_INTERNAL;

	*out = NULL;
	if (what == NULL || what[0] == '\0') {
		return KMS_ERR_INVALID_ARG;
	}
	if (isatty(STDIN_FILENO)) {
		tty_fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
		tty_in = tty_fd >= 0 ? tty_fd : STDIN_FILENO;
		tty_out = tty_fd >= 0 ? tty_fd : STDERR_FILENO;
	}
	(void)snprintf(prompt, sizeof(prompt), "%s: ", what);
	if ((r = ask_one(what, tty_in, tty_out, prompt, &first)) != KMS_OK) {
		goto out;
	}
	if (confirm) {
		(void)snprintf(prompt, sizeof(prompt), "%s (again): ", what);
		if ((r = ask_one(what, tty_in, tty_out, prompt, &second)) != KMS_OK) {
			goto out;
		}
		if (first->len != second->len ||
		    !kms_ct_memeq(first->data, second->data, first->len)) {
			kms_log(KMS_LOG_ERR, "ceremony: %s: the two entries differ", what);
			if (tty_out >= 0) {
				write_all(tty_out, "the two entries differ\n");
			}
			r = KMS_ERR_AUTH;
			goto out;
		}
	}
	*out = first;
	first = NULL; /* transferred */
	r = KMS_OK;
out:
	kms_secret_free(first);
	kms_secret_free(second);
	if (tty_fd >= 0) {
		(void)close(tty_fd);
	}
	return r;
}

/* ---- token initialisation ------------------------------------------------------------------ */

/* The module loaded on its own, for C_InitToken (which needs no session and no login). */
struct module {
	void *dl;
	CK_FUNCTION_LIST *fn;
	int initialized;
};

static int
module_load(struct module *m, const char *path, const char *params, char *err, size_t err_len)
{
	CK_C_INITIALIZE_ARGS args;
	CK_C_GetFunctionList get_list;
	CK_FUNCTION_LIST *fn = NULL;
	struct stat st;
	void *sym;
	CK_RV rv;

	memset(m, 0, sizeof(*m));
	if (path == NULL || path[0] != '/') {
		set_err(err, err_len, "the PKCS#11 module must be given as an absolute path");
		return KMS_ERR_INVALID_ARG;
	}
	if (stat(path, &st) != 0) {
		set_err(err, err_len, "PKCS#11 module %s: %s", path, strerror(errno));
		return KMS_ERR_HSM_UNAVAIL;
	}
	/* The module runs with all our privileges and sees the PINs: nobody else may replace it. */
	if (!S_ISREG(st.st_mode) || (st.st_mode & 022) != 0) {
		set_err(err, err_len,
			"PKCS#11 module %s: refused: not a regular file, or writable by group or "
			"others",
			path);
		return KMS_ERR_INVALID_ARG;
	}
	m->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE /* as hsm/p11.c */);
	if (m->dl == NULL) {
		set_err(err, err_len, "cannot load the PKCS#11 module %s: %s", path, dlerror());
		return KMS_ERR_HSM_UNAVAIL;
	}
	sym = dlsym(m->dl, "C_GetFunctionList");
	if (sym == NULL) {
		set_err(err, err_len, "%s is not a PKCS#11 module (no C_GetFunctionList)", path);
		return KMS_ERR_INVALID_ARG;
	}
	/* ISO C has no conversion from void * to a function pointer; POSIX guarantees this one. */
	memcpy(&get_list, &sym, sizeof(get_list));
	rv = get_list(&fn);
	if (rv != CKR_OK || fn == NULL) {
		set_err(err, err_len, "PKCS#11 module %s: C_GetFunctionList failed: %s", path,
			kms_p11_rv_name(rv));
		return KMS_ERR_HSM;
	}
	if ((fn->version.major != 2 && fn->version.major != 3) || fn->C_Initialize == NULL ||
	    fn->C_Finalize == NULL || fn->C_GetSlotList == NULL || fn->C_GetTokenInfo == NULL ||
	    fn->C_InitToken == NULL || fn->C_OpenSession == NULL || fn->C_CloseSession == NULL ||
	    fn->C_Login == NULL || fn->C_Logout == NULL || fn->C_InitPIN == NULL) {
		set_err(err, err_len, "PKCS#11 module %s: unsupported version or incomplete", path);
		return KMS_ERR_UNSUPPORTED;
	}
	memset(&args, 0, sizeof(args));
	args.flags = CKF_OS_LOCKING_OK;
	args.pReserved = params != NULL && params[0] != '\0' ? (void *)(uintptr_t)params : NULL;
	rv = fn->C_Initialize(&args);
	if (rv != CKR_OK) {
		set_err(err, err_len, "PKCS#11 module %s: C_Initialize failed: %s%s", path,
			kms_p11_rv_name(rv),
			rv == CKR_CRYPTOKI_ALREADY_INITIALIZED
				? " (the token is already open in this program)"
				: "");
		return rv == CKR_CRYPTOKI_ALREADY_INITIALIZED ? KMS_ERR_HSM : kms_p11_err(rv);
	}
	m->fn = fn;
	m->initialized = 1;
	return KMS_OK;
}

static void
module_unload(struct module *m)
{
	if (m->initialized) {
		(void)m->fn->C_Finalize(NULL);
	}
	if (m->dl != NULL) {
		(void)dlclose(m->dl);
	}
	memset(m, 0, sizeof(*m));
}

/* The label of a CK_TOKEN_INFO equals label (len octets) blank-padded to 32. */
static int
label_is(const CK_TOKEN_INFO *ti, const char *label, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(ti->label); i++) {
		unsigned char want = i < len ? (unsigned char)label[i] : ' ';

		if (ti->label[i] != want) {
			return 0;
		}
	}
	return 1;
}

int
kms_cer_init_token(const char *module, const char *params, int has_slot, unsigned long slot,
		   const char *label, const struct kms_secret *so_pin,
		   const struct kms_secret *user_pin, unsigned long *out_slot, char *err,
		   size_t err_len)
{
	struct module m;
	CK_SLOT_ID slots[KMS_P11_MAX_SLOTS];
	CK_ULONG num = KMS_P11_MAX_SLOTS, i;
	CK_TOKEN_INFO ti;
	CK_UTF8CHAR padded[32];
	CK_SESSION_HANDLE h = CK_INVALID_HANDLE;
	CK_SLOT_ID use = 0;
	int found = 0, logged_in = 0;
	size_t label_len = 0;
	const char *step = NULL;
	CK_RV rv = CKR_OK;
	int r = KMS_ERR_INTERNAL;

	memset(&m, 0, sizeof(m));
	*out_slot = 0;
	set_err(err, err_len, "%s", "");
	if (!printable(label, KMS_CER_MAX_LABEL, &label_len)) {
		set_err(err, err_len, "the token label must be 1 to 32 printable ASCII characters");
		return KMS_ERR_INVALID_ARG;
	}
	if (so_pin == NULL || user_pin == NULL || so_pin->len == 0 || user_pin->len == 0 ||
	    so_pin->len > KMS_CER_MAX_PIN || user_pin->len > KMS_CER_MAX_PIN) {
		set_err(err, err_len, "missing or over-long PIN");
		return KMS_ERR_INVALID_ARG;
	}
	if ((r = module_load(&m, module, params, err, err_len)) != KMS_OK) {
		goto out;
	}
	rv = m.fn->C_GetSlotList(CK_TRUE, slots, &num);
	if (rv == CKR_BUFFER_TOO_SMALL || (rv == CKR_OK && num > KMS_P11_MAX_SLOTS)) {
		set_err(err, err_len, "more than %u slots with a token", KMS_P11_MAX_SLOTS);
		r = KMS_ERR_TOO_LARGE;
		goto out;
	}
	if (rv != CKR_OK) {
		set_err(err, err_len, "C_GetSlotList failed: %s", kms_p11_rv_name(rv));
		r = kms_p11_err(rv);
		goto out;
	}
	/* First the whole list: a token with our label anywhere is a refusal, whatever slot. */
	for (i = 0; i < num; i++) {
		if ((rv = m.fn->C_GetTokenInfo(slots[i], &ti)) != CKR_OK) {
			if (has_slot && slots[i] == slot) {
				set_err(err, err_len, "slot %lu: C_GetTokenInfo failed: %s",
					(unsigned long)slots[i], kms_p11_rv_name(rv));
				r = kms_p11_err(rv);
				goto out;
			}
			continue;
		}
		if ((ti.flags & CKF_TOKEN_INITIALIZED) != 0) {
			if (label_is(&ti, label, label_len)) {
				set_err(err, err_len,
					"a token labelled \"%s\" is already initialised (slot "
					"%lu): "
					"refusing to initialise another",
					label, (unsigned long)slots[i]);
				r = KMS_ERR_INVALID_ARG;
				goto out;
			}
			if (has_slot && slots[i] == slot) {
				set_err(err, err_len,
					"slot %lu holds a token that is already initialised: "
					"refusing to erase it",
					(unsigned long)slots[i]);
				r = KMS_ERR_INVALID_ARG;
				goto out;
			}
			continue;
		}
		if (!found && (!has_slot || slots[i] == slot)) {
			use = slots[i];
			found = 1;
		}
	}
	if (!found) {
		if (has_slot) {
			set_err(err, err_len, "slot %lu has no token (or no such slot)", slot);
			r = KMS_ERR_INVALID_ARG;
		} else {
			set_err(err, err_len, "no slot holds a token that is not initialised");
			r = KMS_ERR_HSM_UNAVAIL;
		}
		goto out;
	}
	memset(padded, ' ', sizeof(padded));
	memcpy(padded, label, label_len);
	step = "C_InitToken";
	rv = m.fn->C_InitToken(use, so_pin->data, (CK_ULONG)so_pin->len, padded);
	if (rv != CKR_OK) {
		goto rv_fail;
	}
	step = "C_OpenSession";
	rv = m.fn->C_OpenSession(use, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &h);
	if (rv != CKR_OK) {
		goto rv_fail;
	}
	step = "C_Login (SO)";
	rv = m.fn->C_Login(h, CKU_SO, so_pin->data, (CK_ULONG)so_pin->len);
	if (rv != CKR_OK) {
		goto rv_fail;
	}
	logged_in = 1;
	step = "C_InitPIN";
	rv = m.fn->C_InitPIN(h, user_pin->data, (CK_ULONG)user_pin->len);
	if (rv != CKR_OK) {
		goto rv_fail;
	}
	step = "C_Logout";
	logged_in = 0;
	rv = m.fn->C_Logout(h);
	if (rv != CKR_OK) {
		goto rv_fail;
	}
	step = "C_CloseSession";
	rv = m.fn->C_CloseSession(h);
	h = CK_INVALID_HANDLE;
	if (rv != CKR_OK) {
		goto rv_fail;
	}
	*out_slot = (unsigned long)use;
	kms_log(KMS_LOG_INFO, "ceremony: token \"%s\" initialised in slot %lu", label,
		(unsigned long)use);
	r = KMS_OK;
	goto out;
rv_fail:
	set_err(err, err_len, "slot %lu: %s failed: %s%s", (unsigned long)use, step,
		kms_p11_rv_name(rv),
		kms_p11_err(rv) == KMS_ERR_HSM_PIN ? " (the token refused the PIN)" : "");
	kms_log(KMS_LOG_ERR, "ceremony: slot %lu: %s: %s", (unsigned long)use, step,
		kms_p11_rv_name(rv));
	r = kms_p11_err(rv);
	if (r == KMS_OK) {
		r = KMS_ERR_HSM;
	}
out:
	if (logged_in) {
		(void)m.fn->C_Logout(h);
	}
	if (h != CK_INVALID_HANDLE) {
		(void)m.fn->C_CloseSession(h);
	}
	module_unload(&m);
	return r;
}

/* ---- opening the token --------------------------------------------------------------------- */

int
kms_cer_open(struct kms_p11 **out, const char *module, const char *params, const char *label,
	     const struct kms_secret *user_pin, char *err, size_t err_len)
{
	struct kms_p11_config cfg;
	char uri[KMS_P11URI_TOKEN_URI_CAP];
	size_t label_len = 0;
	int r;

	*out = NULL;
	set_err(err, err_len, "%s", "");
	if (!printable(label, KMS_CER_MAX_LABEL, &label_len)) {
		set_err(err, err_len, "the token label must be 1 to 32 printable ASCII characters");
		return KMS_ERR_INVALID_ARG;
	}
	if (user_pin == NULL || module == NULL) {
		set_err(err, err_len, "no PIN or no module");
		return KMS_ERR_INVALID_ARG;
	}
	if (kms_p11uri_for_token(uri, sizeof(uri), label) != KMS_OK) {
		set_err(err, err_len, "the token label cannot be put into a PKCS#11 URI");
		return KMS_ERR_INVALID_ARG;
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.module_path = module;
	cfg.module_params = params;
	cfg.token_uri = uri;
	cfg.pin = user_pin;
	cfg.num_sessions = 1;
	r = kms_p11_new(out, &cfg);
	switch (r) {
	case KMS_OK:
		break;
	case KMS_ERR_HSM_PIN:
		set_err(err, err_len,
			"the token \"%s\" refused the user PIN (wrong PIN, or the PIN is locked)",
			label);
		break;
	case KMS_ERR_HSM_UNAVAIL:
		set_err(err, err_len,
			"no initialised token labelled \"%s\" was found (is it plugged in and "
			"initialised?), or the module %s cannot be loaded",
			label, module);
		break;
	default:
		set_err(err, err_len, "cannot open the token \"%s\": %s (see the log)", label,
			kms_strerror(r));
		break;
	}
	return r;
}

/* ---- keys ---------------------------------------------------------------------------------- */

/* Is there a token object labelled label (of any class)? */
static int
label_exists(struct kms_p11_session *s, const char *label, size_t label_len, int *out_exists)
{
	CK_FUNCTION_LIST *f = kms_p11_fn(s);
	CK_SESSION_HANDLE h = kms_p11_handle(s);
	CK_OBJECT_HANDLE found[1];
	CK_ULONG num = 0;
	CK_ATTRIBUTE tmpl[] = {
		KMS_P11_ATTR(CKA_TOKEN, &kms_p11_true, sizeof(kms_p11_true)),
		KMS_P11_ATTR(CKA_LABEL, label, label_len),
	};
	int r, r2;

	*out_exists = 0;
	if ((r = kms_p11_check(s, f->C_FindObjectsInit(h, tmpl, 2), "C_FindObjectsInit")) !=
	    KMS_OK) {
		return r;
	}
	r = kms_p11_check(s, f->C_FindObjects(h, found, 1, &num), "C_FindObjects");
	r2 = kms_p11_check(s, f->C_FindObjectsFinal(h), "C_FindObjectsFinal");
	if (r == KMS_OK) {
		r = r2;
	}
	if (r == KMS_OK) {
		*out_exists = num > 0;
	}
	return r;
}

/* A label that is valid and not in use yet (the message names it). */
static int
new_label(struct kms_p11_session *s, const char *label, size_t *out_len, int *out_exists)
{
	int exists = 0;
	int r;

	*out_exists = 0;
	if (!printable(label, KMS_KEYS_MAX_LABEL, out_len)) {
		kms_log(KMS_LOG_ERR, "ceremony: a key label must be 1 to %d printable characters",
			KMS_KEYS_MAX_LABEL);
		return KMS_ERR_INVALID_ARG;
	}
	if ((r = label_exists(s, label, *out_len, &exists)) != KMS_OK) {
		return r;
	}
	if (exists) {
		kms_log(KMS_LOG_ERR, "ceremony: the token already holds an object labelled '%s'",
			label);
		*out_exists = 1;
		return KMS_ERR_INVALID_ARG;
	}
	return KMS_OK;
}

static void
destroy_quietly(struct kms_p11_session *s, CK_OBJECT_HANDLE *obj, const char *what)
{
	if (*obj == CK_INVALID_HANDLE) {
		return;
	}
	if (kms_p11_destroy_object(s, *obj) != KMS_OK) {
		kms_log(KMS_LOG_ERR, "ceremony: cannot destroy %s in the token", what);
	}
	*obj = CK_INVALID_HANDLE;
}

/*
 * A session AES-256 key of value key (32 octets, borrowed: the token copies it), sensitive,
 * not extractable, for one wrap (flag CKA_WRAP) or unwrap (CKA_UNWRAP) with pol->kwp only.
 */
static int
session_aes(struct kms_p11_session *s, const struct kms_wrap_policy *pol, const uint8_t *key,
	    CK_ATTRIBUTE_TYPE flag, CK_OBJECT_HANDLE *out)
{
	CK_MECHANISM_TYPE allowed[1];
	CK_BBOOL wrap = flag == CKA_WRAP ? CK_TRUE : CK_FALSE;
	CK_BBOOL unwrap = flag == CKA_UNWRAP ? CK_TRUE : CK_FALSE;
	CK_ATTRIBUTE tmpl[] = {
		KMS_P11_ATTR(CKA_CLASS, &kms_p11_class_secret, sizeof(kms_p11_class_secret)),
		KMS_P11_ATTR(CKA_KEY_TYPE, &kms_p11_type_aes, sizeof(kms_p11_type_aes)),
		KMS_P11_ATTR(CKA_VALUE, key, KMS_CER_KEY_LEN),
		KMS_P11_ATTR(CKA_TOKEN, &kms_p11_false, sizeof(kms_p11_false)),
		KMS_P11_ATTR(CKA_PRIVATE, &kms_p11_true, sizeof(kms_p11_true)),
		KMS_P11_ATTR(CKA_SENSITIVE, &kms_p11_true, sizeof(kms_p11_true)),
		KMS_P11_ATTR(CKA_EXTRACTABLE, &kms_p11_false, sizeof(kms_p11_false)),
		KMS_P11_ATTR(CKA_WRAP, &wrap, sizeof(wrap)),
		KMS_P11_ATTR(CKA_UNWRAP, &unwrap, sizeof(unwrap)),
		KMS_P11_ATTR(CKA_ENCRYPT, &kms_p11_false, sizeof(kms_p11_false)),
		KMS_P11_ATTR(CKA_DECRYPT, &kms_p11_false, sizeof(kms_p11_false)),
		KMS_P11_ATTR(CKA_SIGN, &kms_p11_false, sizeof(kms_p11_false)),
		KMS_P11_ATTR(CKA_DERIVE, &kms_p11_false, sizeof(kms_p11_false)),
		KMS_P11_ATTR(CKA_ALLOWED_MECHANISMS, allowed, sizeof(allowed)),
	};

	allowed[0] = pol->kwp;
	return kms_p11_create_object(s, out, tmpl, sizeof(tmpl) / sizeof(tmpl[0]));
}

/* CKA_EXTRACTABLE := false, and read back: it must have stuck (kms_keys_lock checks). */
static int
lock_key(struct kms_p11_session *s, CK_OBJECT_HANDLE key, const char *label)
{
	int r = kms_keys_lock(s, key);

	if (r != KMS_OK) {
		kms_log(KMS_LOG_ERR, "ceremony: cannot make '%s' not extractable: %s", label,
			kms_strerror(r));
	}
	return r;
}

int
kms_cer_new_kek(struct kms_p11_session *s, const struct kms_wrap_policy *pol, const char *label,
		const uint8_t wrap_key[32], uint8_t *out, size_t cap, size_t *out_len,
		CK_OBJECT_HANDLE *out_kek)
{
	struct kms_keys_tmpl t;
	CK_OBJECT_HANDLE kek = CK_INVALID_HANDLE, wk = CK_INVALID_HANDLE;
	size_t label_len = 0, len = 0;
	int exists = 0;
	int r = KMS_ERR_INTERNAL;

	*out_len = 0;
	*out_kek = CK_INVALID_HANDLE;
	if (pol == NULL || wrap_key == NULL || out == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	if (cap < KMS_CER_BLOB_LEN) {
		return KMS_ERR_TOO_LARGE;
	}
	if ((r = new_label(s, label, &label_len, &exists)) != KMS_OK ||
	    (r = kms_keys_template(&t, KMS_KEY_KEK, label, pol, 1, 0, 0)) != KMS_OK) {
		goto out;
	}
	if ((r = kms_p11_generate_key(s, &kek, &t.gen, t.attrs, t.num_attrs)) != KMS_OK) {
		kek = CK_INVALID_HANDLE;
		goto out;
	}
	/* The one export: 32 octets, which every RFC 5649 mechanism wraps exactly. */
	if ((r = session_aes(s, pol, wrap_key, CKA_WRAP, &wk)) != KMS_OK) {
		wk = CK_INVALID_HANDLE;
		goto out;
	}
	if ((r = kms_wrap_object(s, pol, wk, kek, KMS_CER_KEY_LEN, out, cap, &len)) != KMS_OK) {
		goto out;
	}
	destroy_quietly(s, &wk, "the backup wrapping key");
	if (len != KMS_CER_BLOB_LEN) {
		r = KMS_ERR_HSM;
		goto out;
	}
	if ((r = lock_key(s, kek, label)) != KMS_OK) {
		goto out;
	}
	*out_len = len;
	*out_kek = kek;
	kek = CK_INVALID_HANDLE; /* kept */
	r = KMS_OK;
out:
	destroy_quietly(s, &wk, "the backup wrapping key");
	if (kek != CK_INVALID_HANDLE) {
		kms_log(KMS_LOG_ERR, "ceremony: removing the half-made KEK '%s'", label);
		destroy_quietly(s, &kek, "the half-made KEK");
	}
	if (r != KMS_OK) {
		kms_memzero(out, cap);
	}
	return r;
}

/*
 * C_UnwrapKey of an RFC 5649 blob of one 32-octet key under uk with the template t; the
 * length is checked here (40 octets) and by the token (the MLI). Failures of the integrity
 * check are KMS_ERR_AUTH (tokens report them variously, SoftHSM as CKR_GENERAL_ERROR).
 */
static int
unwrap_key(struct kms_p11_session *s, const struct kms_wrap_policy *pol, CK_OBJECT_HANDLE uk,
	   const uint8_t *blob, size_t len, struct kms_keys_tmpl *t, CK_OBJECT_HANDLE *out)
{
	CK_MECHANISM mech = {pol->kwp, NULL, 0};
	CK_RV rv;
	int r;

	*out = CK_INVALID_HANDLE;
	t->num_attrs = kms_p11_fit_template(s, t->attrs, t->num_attrs);
	rv = kms_p11_fn(s)->C_UnwrapKey(kms_p11_handle(s), &mech, uk, (CK_BYTE_PTR)(uintptr_t)blob,
					(CK_ULONG)len, t->attrs, t->num_attrs, out);
	r = kms_p11_check(s, rv, "C_UnwrapKey");
	if (r != KMS_OK) {
		*out = CK_INVALID_HANDLE;
		if (r != KMS_ERR_HSM_UNAVAIL &&
		    (rv == CKR_WRAPPED_KEY_INVALID || rv == CKR_WRAPPED_KEY_LEN_RANGE ||
		     rv == CKR_ENCRYPTED_DATA_INVALID || rv == CKR_GENERAL_ERROR)) {
			r = KMS_ERR_AUTH;
		}
		return r;
	}
	kms_p11_note_created(s, 1);
	return KMS_OK;
}

/* The checks after an unwrap: not extractable, and 32 octets where the token says. */
static int
check_imported(struct kms_p11_session *s, CK_OBJECT_HANDLE key, const char *label)
{
	CK_ULONG value_len = 0;
	int extractable = 1, sensitive = 0;
	int r;

	if ((r = kms_p11_get_bool(s, &extractable, key, CKA_EXTRACTABLE)) != KMS_OK ||
	    (r = kms_p11_get_bool(s, &sensitive, key, CKA_SENSITIVE)) != KMS_OK ||
	    (r = kms_p11_get_ulong(s, &value_len, key, CKA_VALUE_LEN)) != KMS_OK) {
		return r;
	}
	/* SoftHSM 2.6.1 leaves CKA_VALUE_LEN 0 on unwrapped objects; the blob's length held. */
	if (extractable || !sensitive || (value_len != 0 && value_len != KMS_CER_KEY_LEN)) {
		kms_log(KMS_LOG_ERR, "ceremony: the unwrapped key '%s' has wrong attributes",
			label);
		return KMS_ERR_HSM;
	}
	return KMS_OK;
}

int
kms_cer_restore_kek(struct kms_p11_session *s, const struct kms_wrap_policy *pol, const char *label,
		    const uint8_t wrap_key[32], const uint8_t *blob, size_t len,
		    CK_OBJECT_HANDLE *out_kek)
{
	struct kms_keys_tmpl t;
	CK_OBJECT_HANDLE kek = CK_INVALID_HANDLE, wk = CK_INVALID_HANDLE;
	size_t label_len = 0;
	int exists = 0;
	int r = KMS_ERR_INTERNAL;

	*out_kek = CK_INVALID_HANDLE;
	if (pol == NULL || wrap_key == NULL || blob == NULL || len != KMS_CER_BLOB_LEN) {
		return KMS_ERR_INVALID_ARG;
	}
	if ((r = new_label(s, label, &label_len, &exists)) != KMS_OK ||
	    (r = kms_keys_template(&t, KMS_KEY_KEK, label, pol, 0, 0, 1)) != KMS_OK) {
		goto out;
	}
	if ((r = session_aes(s, pol, wrap_key, CKA_UNWRAP, &wk)) != KMS_OK) {
		wk = CK_INVALID_HANDLE;
		goto out;
	}
	if ((r = unwrap_key(s, pol, wk, blob, len, &t, &kek)) != KMS_OK) {
		if (r == KMS_ERR_AUTH) {
			kms_log(KMS_LOG_ERR, "ceremony: the KEK backup does not unwrap under this "
					     "backup key (wrong shares, or another domain's file)");
		}
		goto out;
	}
	if ((r = check_imported(s, kek, label)) != KMS_OK) {
		goto out;
	}
	*out_kek = kek;
	kek = CK_INVALID_HANDLE; /* kept */
	r = KMS_OK;
out:
	destroy_quietly(s, &wk, "the backup wrapping key");
	destroy_quietly(s, &kek, "the rejected KEK");
	return r;
}

/* ---- client keys ----------------------------------------------------------------------------- */

void
kms_cer_client_key_clear(struct kms_cer_client_key *k)
{
	if (k == NULL) {
		return;
	}
	EVP_PKEY_free(k->rsa);
	kms_secret_free(k->aes);
	memset(k, 0, sizeof(*k));
}

static int
load_rsa(struct kms_cer_client_key *out, const uint8_t *data, size_t len, const char *path,
	 char *err, size_t err_len)
{
	BIO *b = NULL;
	EVP_PKEY *pk = NULL;
	int bits;
	int r = KMS_ERR_PARSE;

	b = BIO_new_mem_buf(data, (int)len);
	if (b == NULL) {
		r = KMS_ERR_NOMEM;
		goto out;
	}
	pk = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
	if (pk == NULL) {
		set_err(err, err_len, "%s: not a PEM \"PUBLIC KEY\"", path);
		goto out;
	}
	if (EVP_PKEY_get_base_id(pk) != EVP_PKEY_RSA) {
		set_err(err, err_len, "%s: the public key is not an RSA key", path);
		goto out;
	}
	bits = EVP_PKEY_get_bits(pk);
	if (bits < RSA_MIN_BITS || bits > RSA_MAX_BITS) {
		set_err(err, err_len, "%s: an RSA key of %d bits (allowed: %d to %d)", path, bits,
			RSA_MIN_BITS, RSA_MAX_BITS);
		r = KMS_ERR_RANGE;
		goto out;
	}
	out->kind = KMS_CER_CKEY_RSA;
	out->rsa = pk;
	pk = NULL; /* transferred */
	r = KMS_OK;
out:
	ERR_clear_error();
	EVP_PKEY_free(pk);
	BIO_free(b);
	return r;
}

int
kms_cer_client_key_load(struct kms_cer_client_key *out, const char *path, char *err, size_t err_len)
{
	static const char pem[] = "-----BEGIN";
	struct kms_secret *buf = NULL;
	struct kms_secret *aes = NULL;
	struct stat st;
	size_t len = 0;
	ssize_t got;
	int fd = -1;
	int r = KMS_ERR_INTERNAL;

	memset(out, 0, sizeof(*out));
	set_err(err, err_len, "%s", "");
	if (path == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		set_err(err, err_len, "%s: %s", path, strerror(errno));
		r = KMS_ERR_IO;
		goto out;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		set_err(err, err_len, "%s: not a regular file", path);
		r = KMS_ERR_IO;
		goto out;
	}
	if (st.st_size <= 0 || (uint64_t)st.st_size > CLIENT_KEY_MAX_FILE) {
		set_err(err, err_len, "%s: empty, or larger than %u octets", path,
			CLIENT_KEY_MAX_FILE);
		r = st.st_size <= 0 ? KMS_ERR_PARSE : KMS_ERR_TOO_LARGE;
		goto out;
	}
	/* It may be a key-encryption key: read it into locked memory. */
	buf = kms_secret_new(CLIENT_KEY_MAX_FILE + 1);
	if (buf == NULL) {
		r = KMS_ERR_NOMEM;
		goto out;
	}
	for (;;) {
		got = read(fd, buf->data + len, buf->len - len);
		if (got < 0 && errno == EINTR) {
			continue;
		}
		if (got < 0) {
			set_err(err, err_len, "%s: %s", path, strerror(errno));
			r = KMS_ERR_IO;
			goto out;
		}
		if (got == 0) {
			break;
		}
		len += (size_t)got;
		if (len > CLIENT_KEY_MAX_FILE) {
			set_err(err, err_len, "%s: larger than %u octets", path,
				CLIENT_KEY_MAX_FILE);
			r = KMS_ERR_TOO_LARGE;
			goto out;
		}
	}
	if (len >= sizeof(pem) - 1 && memcmp(buf->data, pem, sizeof(pem) - 1) == 0) {
		r = load_rsa(out, buf->data, len, path, err, err_len);
		goto out;
	}
	if (len == 2 * KMS_CER_KEY_LEN + 1 && buf->data[len - 1] == '\n') {
		len--;
	}
	if (len != 2 * KMS_CER_KEY_LEN) {
		set_err(err, err_len,
			"%s: neither a PEM RSA public key nor exactly 64 hex digits (an AES-256 "
			"key-encryption key)",
			path);
		r = KMS_ERR_PARSE;
		goto out;
	}
	aes = kms_secret_new(KMS_CER_KEY_LEN);
	if (aes == NULL) {
		r = KMS_ERR_NOMEM;
		goto out;
	}
	if (kms_hex_decode(aes->data, aes->len, (const char *)buf->data, len) != KMS_OK) {
		set_err(err, err_len, "%s: not 64 hex digits", path);
		r = KMS_ERR_PARSE;
		goto out;
	}
	out->kind = KMS_CER_CKEY_AES;
	out->aes = aes;
	aes = NULL; /* transferred */
	r = KMS_OK;
out:
	if (fd >= 0) {
		(void)close(fd);
	}
	kms_secret_free(aes);
	kms_secret_free(buf);
	if (r != KMS_OK) {
		kms_cer_client_key_clear(out);
	}
	return r;
}

/* The client's RSA public key as a session object that may only wrap with RSA-OAEP. */
static int
session_rsa(struct kms_p11_session *s, EVP_PKEY *pk, CK_OBJECT_HANDLE *out, size_t *out_mod_len)
{
	static const CK_MECHANISM_TYPE allowed[1] = {CKM_RSA_PKCS_OAEP};
	BIGNUM *n = NULL, *e = NULL;
	uint8_t mod[RSA_MAX_BITS / 8];
	uint8_t exp[16];
	int mod_len, exp_len;
	int r = KMS_ERR_INVALID_ARG;

	*out = CK_INVALID_HANDLE;
	*out_mod_len = 0;
	if (EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_N, &n) != 1 ||
	    EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_E, &e) != 1 ||
	    BN_num_bytes(n) > (int)sizeof(mod) || BN_num_bytes(e) > (int)sizeof(exp) ||
	    (mod_len = BN_bn2bin(n, mod)) <= 0 || (exp_len = BN_bn2bin(e, exp)) <= 0) {
		goto out;
	}
	{
		CK_ATTRIBUTE tmpl[] = {
			KMS_P11_ATTR(CKA_CLASS, &class_public, sizeof(class_public)),
			KMS_P11_ATTR(CKA_KEY_TYPE, &type_rsa, sizeof(type_rsa)),
			KMS_P11_ATTR(CKA_MODULUS, mod, mod_len),
			KMS_P11_ATTR(CKA_PUBLIC_EXPONENT, exp, exp_len),
			KMS_P11_ATTR(CKA_TOKEN, &kms_p11_false, sizeof(kms_p11_false)),
			KMS_P11_ATTR(CKA_WRAP, &kms_p11_true, sizeof(kms_p11_true)),
			KMS_P11_ATTR(CKA_ENCRYPT, &kms_p11_false, sizeof(kms_p11_false)),
			KMS_P11_ATTR(CKA_VERIFY, &kms_p11_false, sizeof(kms_p11_false)),
			KMS_P11_ATTR(CKA_DERIVE, &kms_p11_false, sizeof(kms_p11_false)),
			KMS_P11_ATTR(CKA_ALLOWED_MECHANISMS, allowed, sizeof(allowed)),
		};

		r = kms_p11_create_object(s, out, tmpl, sizeof(tmpl) / sizeof(tmpl[0]));
	}
	if (r == KMS_OK) {
		*out_mod_len = (size_t)mod_len;
	}
out:
	ERR_clear_error();
	BN_free(n);
	BN_free(e);
	return r;
}

/* The export for the client: RSA-OAEP under its public key, or RFC 5649 under its KEK. */
static int
export_for_client(struct kms_p11_session *s, const struct kms_wrap_policy *pol,
		  CK_OBJECT_HANDLE key, const struct kms_cer_client_key *ck, int oaep_sha1,
		  uint8_t *out, size_t cap, size_t *out_len)
{
	CK_OBJECT_HANDLE wk = CK_INVALID_HANDLE;
	CK_RSA_PKCS_OAEP_PARAMS oaep;
	CK_MECHANISM mech;
	CK_ULONG len;
	size_t mod_len = 0;
	int r;

	*out_len = 0;
	if (ck->kind == KMS_CER_CKEY_AES) {
		if ((r = session_aes(s, pol, ck->aes->data, CKA_WRAP, &wk)) != KMS_OK) {
			return r;
		}
		r = kms_wrap_object(s, pol, wk, key, KMS_CER_KEY_LEN, out, cap, out_len);
		destroy_quietly(s, &wk, "the client's key-encryption key");
		return r;
	}
	if ((r = session_rsa(s, ck->rsa, &wk, &mod_len)) != KMS_OK) {
		return r;
	}
	if (cap < mod_len) {
		r = KMS_ERR_TOO_LARGE;
		goto out;
	}
	memset(&oaep, 0, sizeof(oaep));
	oaep.hashAlg = oaep_sha1 ? CKM_SHA_1 : CKM_SHA256;
	oaep.mgf = oaep_sha1 ? CKG_MGF1_SHA1 : CKG_MGF1_SHA256;
	oaep.source = CKZ_DATA_SPECIFIED;
	oaep.pSourceData = NULL;
	oaep.ulSourceDataLen = 0;
	mech.mechanism = CKM_RSA_PKCS_OAEP;
	mech.pParameter = &oaep;
	mech.ulParameterLen = sizeof(oaep);
	len = (CK_ULONG)cap;
	r = kms_p11_check(s, kms_p11_fn(s)->C_WrapKey(kms_p11_handle(s), &mech, wk, key, out, &len),
			  "C_WrapKey (RSA-OAEP)");
	if (r == KMS_OK && len != mod_len) {
		r = KMS_ERR_HSM; /* an RSA ciphertext is exactly the modulus long */
	}
	if (r == KMS_OK) {
		*out_len = (size_t)len;
	}
out:
	destroy_quietly(s, &wk, "the client's public key");
	return r;
}

static int
client_key_ok(const struct kms_cer_client_key *ck)
{
	if (ck == NULL) {
		return 0;
	}
	if (ck->kind == KMS_CER_CKEY_AES) {
		return ck->aes != NULL && ck->aes->len == KMS_CER_KEY_LEN;
	}
	return ck->kind == KMS_CER_CKEY_RSA && ck->rsa != NULL &&
	       EVP_PKEY_get_base_id(ck->rsa) == EVP_PKEY_RSA;
}

int
kms_cer_enrol_key(struct kms_p11_session *s, const struct kms_wrap_policy *pol,
		  CK_OBJECT_HANDLE kek, int ink, const char *label,
		  const struct kms_cer_client_key *ck, int oaep_sha1, uint8_t *out_client,
		  size_t client_cap, size_t *out_client_len, uint8_t *out_kek_blob, size_t kek_cap,
		  size_t *out_kek_len, CK_OBJECT_HANDLE *out)
{
	struct kms_keys_tmpl t;
	CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
	size_t label_len = 0;
	int exists = 0;
	int r = KMS_ERR_INTERNAL;

	*out_client_len = 0;
	*out_kek_len = 0;
	*out = CK_INVALID_HANDLE;
	if (pol == NULL || out_client == NULL || out_kek_blob == NULL || !client_key_ok(ck)) {
		return KMS_ERR_INVALID_ARG;
	}
	if (kek_cap < KMS_CER_BLOB_LEN) {
		return KMS_ERR_TOO_LARGE;
	}
	if ((r = new_label(s, label, &label_len, &exists)) != KMS_OK ||
	    (r = kms_keys_template(&t, ink ? KMS_KEY_INK : KMS_KEY_TRK, label, pol, 1, 0, 0)) !=
		    KMS_OK) {
		goto out;
	}
	if ((r = kms_p11_generate_key(s, &key, &t.gen, t.attrs, t.num_attrs)) != KMS_OK) {
		key = CK_INVALID_HANDLE;
		goto out;
	}
	if ((r = export_for_client(s, pol, key, ck, oaep_sha1, out_client, client_cap,
				   out_client_len)) != KMS_OK) {
		kms_log(KMS_LOG_ERR, "ceremony: cannot export '%s' for the client: %s", label,
			kms_strerror(r));
		goto out;
	}
	if ((r = kms_wrap_object(s, pol, kek, key, KMS_CER_KEY_LEN, out_kek_blob, kek_cap,
				 out_kek_len)) != KMS_OK) {
		kms_log(KMS_LOG_ERR, "ceremony: cannot wrap '%s' under the KEK: %s", label,
			kms_strerror(r));
		goto out;
	}
	if ((r = lock_key(s, key, label)) != KMS_OK) {
		goto out;
	}
	*out = key;
	key = CK_INVALID_HANDLE; /* kept */
	r = KMS_OK;
out:
	if (key != CK_INVALID_HANDLE) {
		kms_log(KMS_LOG_ERR, "ceremony: removing the half-made key '%s'", label);
		destroy_quietly(s, &key, "the half-made key");
	}
	if (r != KMS_OK) {
		kms_memzero(out_client, client_cap);
		kms_memzero(out_kek_blob, kek_cap);
		*out_client_len = 0;
		*out_kek_len = 0;
	}
	return r;
}

int
kms_cer_import_key(struct kms_p11_session *s, const struct kms_wrap_policy *pol,
		   CK_OBJECT_HANDLE kek, int ink, const char *label, const uint8_t *blob,
		   size_t len, int *out_exists, CK_OBJECT_HANDLE *out)
{
	struct kms_keys_tmpl t;
	CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
	size_t label_len = 0;
	int r = KMS_ERR_INTERNAL;

	*out_exists = 0;
	*out = CK_INVALID_HANDLE;
	if (pol == NULL || blob == NULL || len != KMS_CER_BLOB_LEN) {
		return KMS_ERR_INVALID_ARG;
	}
	if ((r = new_label(s, label, &label_len, out_exists)) != KMS_OK ||
	    (r = kms_keys_template(&t, ink ? KMS_KEY_INK : KMS_KEY_TRK, label, pol, 0, 0, 1)) !=
		    KMS_OK) {
		goto out;
	}
	if ((r = unwrap_key(s, pol, kek, blob, len, &t, &key)) != KMS_OK) {
		if (r == KMS_ERR_AUTH) {
			kms_log(KMS_LOG_ERR,
				"ceremony: the stored blob of '%s' does not unwrap under the KEK",
				label);
		}
		goto out;
	}
	if ((r = check_imported(s, key, label)) != KMS_OK) {
		goto out;
	}
	*out = key;
	key = CK_INVALID_HANDLE; /* kept */
	r = KMS_OK;
out:
	destroy_quietly(s, &key, "the rejected key");
	return r;
}
