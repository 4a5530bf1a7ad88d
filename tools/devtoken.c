/* SPDX-License-Identifier: Apache-2.0 */
#include "tools/devtoken.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "hsm/p11uri.h"

#include "common/banned.h"

extern char **environ;

#define MAX_LABEL      32 /* CK_TOKEN_INFO.label */
#define MIN_PIN        4
#define MAX_PIN        255
#define MAX_TREE_DEPTH 32

/* Debian's paths of the SoftHSM module, most stable first (the first is a link to the second). */
static const char *const module_paths[] = {
	"/usr/lib/softhsm/libsofthsm2.so",
	"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib64/softhsm/libsofthsm2.so",
	"/usr/local/lib/softhsm/libsofthsm2.so",
};

/* $env when set, else the first of paths[0..n) that exists, else otherwise. */
static const char *
find_module(const char *env, const char *const *paths, size_t n, const char *otherwise)
{
	const char *m = getenv(env);
	size_t i;

	if (m != NULL && m[0] != '\0') {
		return m;
	}
	for (i = 0; i < n; i++) {
		if (access(paths[i], R_OK) == 0) {
			return paths[i];
		}
	}
	return otherwise;
}

const char *
kms_devtoken_module(void)
{
	return find_module("KMS_TEST_HSM_MODULE", module_paths,
			   sizeof(module_paths) / sizeof(module_paths[0]), module_paths[0]);
}

/* An absolute path that SoftHSM's configuration (no quoting) and ours carry as it is. */
static int
plain_abs_path(const char *p)
{
	size_t n, i;

	if (p == NULL || p[0] != '/') {
		return 0;
	}
	n = strlen(p);
	if (n >= 4096 || p[n - 1] == ' ' || p[n - 1] == '\t') {
		return 0;
	}
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c < 0x20 || c == 0x7f) {
			return 0;
		}
	}
	return 1;
}

/* 1..max printable ASCII octets. */
static int
printable(const char *s, size_t min, size_t max)
{
	size_t n, i;

	if (s == NULL) {
		return 0;
	}
	n = strlen(s);
	if (n < min || n > max) {
		return 0;
	}
	for (i = 0; i < n; i++) {
		if (s[i] < 0x20 || s[i] > 0x7e) {
			return 0;
		}
	}
	return 1;
}

int
kms_devtoken_write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	const uint8_t *p = data;
	int fd = -1;
	int saved;
	int r = KMS_ERR_IO;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		return KMS_ERR_IO;
	}
	/* the umask (077 in a hardened process) must not decide the mode of a public file */
	if (fchmod(fd, mode) != 0) {
		goto out;
	}
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR) {
			continue;
		}
		if (w <= 0) {
			if (w == 0) {
				errno = EIO;
			}
			goto out;
		}
		p += w;
		len -= (size_t)w;
	}
	if (fsync(fd) != 0) {
		goto out;
	}
	r = KMS_OK;
out:
	saved = errno;
	if (fd >= 0 && close(fd) != 0 && r == KMS_OK) {
		saved = errno;
		r = KMS_ERR_IO;
	}
	if (r != KMS_OK) {
		(void)unlink(path);
	}
	errno = saved;
	return r;
}

int
kms_devtoken_write_conf(const char *conf_path, const char *tokens_dir)
{
	char text[4096 + 128];
	int n;

	if (!plain_abs_path(conf_path) || !plain_abs_path(tokens_dir)) {
		return KMS_ERR_INVALID_ARG;
	}
	n = snprintf(text, sizeof(text),
		     "# SoftHSM v2 configuration of a development token (SOFTHSM2_CONF)\n"
		     "directories.tokendir = %s\n"
		     "objectstore.backend = file\n"
		     "log.level = ERROR\n",
		     tokens_dir);
	if (n < 0 || (size_t)n >= sizeof(text)) {
		return KMS_ERR_INVALID_ARG;
	}
	return kms_devtoken_write_file(conf_path, text, (size_t)n, 0600);
}

int
kms_devtoken_init_token(const char *conf_path, const char *label, const char *so_pin,
			const char *user_pin)
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int st = 0;
	int r = KMS_ERR_HSM;
	int e;
	/* posix_spawnp takes char *const argv[]: these strings are only read */
	char *argv[] = {
		(char *)(uintptr_t) "softhsm2-util",
		(char *)(uintptr_t) "--init-token",
		(char *)(uintptr_t) "--free",
		(char *)(uintptr_t) "--label",
		(char *)(uintptr_t)label,
		(char *)(uintptr_t) "--so-pin",
		(char *)(uintptr_t)so_pin,
		(char *)(uintptr_t) "--pin",
		(char *)(uintptr_t)user_pin,
		NULL,
	};

	if (!plain_abs_path(conf_path) || !printable(label, 1, MAX_LABEL) ||
	    !printable(so_pin, MIN_PIN, MAX_PIN) || !printable(user_pin, MIN_PIN, MAX_PIN)) {
		return KMS_ERR_INVALID_ARG;
	}
	if (setenv("SOFTHSM2_CONF", conf_path, 1) != 0) {
		return KMS_ERR_NOMEM;
	}
	if (posix_spawn_file_actions_init(&fa) != 0) {
		return KMS_ERR_NOMEM;
	}
	if (posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0) != 0) {
		r = KMS_ERR_NOMEM;
		goto out;
	}
	e = posix_spawnp(&pid, "softhsm2-util", &fa, NULL, argv, environ);
	if (e != 0) {
		kms_log(KMS_LOG_ERR, "devtoken: cannot run softhsm2-util: %s", strerror(e));
		goto out;
	}
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR) {
			goto out;
		}
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		kms_log(KMS_LOG_ERR, "devtoken: softhsm2-util --init-token failed (status %d)",
			WIFEXITED(st) ? WEXITSTATUS(st) : -1);
		goto out;
	}
	r = KMS_OK;
out:
	posix_spawn_file_actions_destroy(&fa);
	return r;
}

/* Debian's paths of NSS's softoken. */
static const char *const nss_paths[] = {
	"/usr/lib/x86_64-linux-gnu/libsoftokn3.so",
	"/usr/lib/aarch64-linux-gnu/libsoftokn3.so",
	"/usr/lib64/libsoftokn3.so",
	"/usr/lib/libsoftokn3.so",
};

const char *
kms_devtoken_nss_module(void)
{
	return find_module("KMS_TEST_NSS_MODULE", nss_paths,
			   sizeof(nss_paths) / sizeof(nss_paths[0]), NULL);
}

int
kms_devtoken_nss_params(char *out, size_t cap, const char *dir, const char *label)
{
	int n;

	if (!plain_abs_path(dir) || strchr(dir, '\'') != NULL || !printable(label, 1, MAX_LABEL) ||
	    strchr(label, '\'') != NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	n = snprintf(out, cap,
		     "configdir='sql:%s' certPrefix='' keyPrefix='' secmod='' flags=noModDB "
		     "dbTokenDescription='%s'",
		     dir, label);
	return n > 0 && (size_t)n < cap ? KMS_OK : KMS_ERR_INVALID_ARG;
}

int
kms_devtoken_nss_init(const char *module, const char *params, const char *label,
		      const char *user_pin)
{
	CK_C_GetFunctionList gfl;
	CK_FUNCTION_LIST *f = NULL;
	CK_C_INITIALIZE_ARGS args;
	CK_SLOT_ID slots[8];
	CK_ULONG n = 8, i;
	CK_UTF8CHAR empty[1] = {0};
	size_t label_len = strlen(label);
	void *dl;
	int r = KMS_ERR_HSM;

	if (label_len == 0 || label_len > MAX_LABEL || !printable(user_pin, MIN_PIN, MAX_PIN)) {
		return KMS_ERR_INVALID_ARG;
	}
	if ((dl = dlopen(module, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE /* as hsm/p11.c */)) ==
	    NULL) {
		kms_log(KMS_LOG_ERR, "devtoken: cannot load %s", module);
		return KMS_ERR_HSM;
	}
	memset(&args, 0, sizeof(args));
	args.flags = CKF_OS_LOCKING_OK;
	args.pReserved = (void *)(uintptr_t)params;
	if ((gfl = (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList")) == NULL ||
	    gfl(&f) != CKR_OK || f->C_Initialize(&args) != CKR_OK) {
		dlclose(dl);
		return KMS_ERR_HSM;
	}
	if (f->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK) {
		n = 0;
	}
	for (i = 0; i < n && r != KMS_OK; i++) {
		CK_SESSION_HANDLE h = CK_INVALID_HANDLE;
		CK_TOKEN_INFO ti;

		if (f->C_GetTokenInfo(slots[i], &ti) != CKR_OK ||
		    memcmp(ti.label, label, label_len) != 0 ||
		    (label_len < 32 && ti.label[label_len] != ' ')) {
			continue;
		}
		/* a new database: the SO's password is empty; C_InitPIN sets the user's */
		if (f->C_OpenSession(slots[i], CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL,
				     &h) == CKR_OK &&
		    f->C_Login(h, CKU_SO, empty, 0) == CKR_OK &&
		    f->C_InitPIN(h, (CK_UTF8CHAR_PTR)(uintptr_t)user_pin, strlen(user_pin)) ==
			    CKR_OK &&
		    f->C_Logout(h) == CKR_OK) {
			r = KMS_OK;
		}
	}
	if (r != KMS_OK) {
		kms_log(KMS_LOG_ERR, "devtoken: cannot set the user PIN of NSS database token %s",
			label);
	}
	(void)f->C_Finalize(NULL);
	dlclose(dl);
	return r;
}

int
kms_devtoken_open(struct kms_p11 **out, const char *module, const char *label, const char *pin_path)
{
	return kms_devtoken_open_params(out, module, NULL, label, pin_path);
}

int
kms_devtoken_open_params(struct kms_p11 **out, const char *module, const char *params,
			 const char *label, const char *pin_path)
{
	struct kms_p11_config cfg;
	char uri[KMS_P11URI_TOKEN_URI_CAP];

	*out = NULL;
	if (!printable(label, 1, MAX_LABEL)) {
		return KMS_ERR_INVALID_ARG;
	}
	if (kms_p11uri_for_token(uri, sizeof(uri), label) != KMS_OK) {
		return KMS_ERR_INVALID_ARG;
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.module_path = module;
	cfg.module_params = params;
	cfg.token_uri = uri;
	cfg.pin_file = pin_path;
	return kms_p11_new(out, &cfg);
}

/* Remove name in the directory dfd, and everything below it when it is a directory. */
static int
rm_at(int dfd, const char *name, int depth)
{
	struct stat st;
	struct dirent *e;
	DIR *d;
	int fd;
	int r = KMS_OK;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		return errno == ENOENT ? KMS_OK : KMS_ERR_IO;
	}
	if (!S_ISDIR(st.st_mode)) {
		return unlinkat(dfd, name, 0) == 0 || errno == ENOENT ? KMS_OK : KMS_ERR_IO;
	}
	if (depth >= MAX_TREE_DEPTH) {
		return KMS_ERR_IO;
	}
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		return KMS_ERR_IO;
	}
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return KMS_ERR_IO;
	}
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
			continue;
		}
		if (rm_at(dirfd(d), e->d_name, depth + 1) != KMS_OK) {
			r = KMS_ERR_IO;
		}
	}
	closedir(d);
	if (unlinkat(dfd, name, AT_REMOVEDIR) != 0 && errno != ENOENT) {
		r = KMS_ERR_IO;
	}
	return r;
}

int
kms_devtoken_rmtree(const char *path)
{
	if (path == NULL || path[0] == '\0') {
		return KMS_ERR_INVALID_ARG;
	}
	return rm_at(AT_FDCWD, path, 0);
}

int
kms_devtoken_new(struct kms_devtoken *t, const char *label)
{
	return kms_devtoken_new_kind(t, label, KMS_DEVTOKEN_SOFTHSM);
}

int
kms_devtoken_new_kind(struct kms_devtoken *t, const char *label, enum kms_devtoken_kind kind)
{
	static const char pin[] = "87654321\n";
	char conf[128];
	char tokens[128];
	const char *nss = kms_devtoken_nss_module();

	memset(t, 0, sizeof(*t));
	t->kind = kind;
	if (kind == KMS_DEVTOKEN_NSS && nss == NULL) {
		kms_log(KMS_LOG_ERR, "devtoken: NSS's softoken (libsoftokn3, package libnss3) "
				     "is not installed");
		return -1;
	}
	snprintf(t->dir, sizeof(t->dir), "/tmp/kms-test-XXXXXX");
	if (mkdtemp(t->dir) == NULL) {
		t->dir[0] = '\0';
		return -1;
	}
	snprintf(conf, sizeof(conf), "%s/softhsm2.conf", t->dir);
	snprintf(tokens, sizeof(tokens), "%s/tokens", t->dir);
	snprintf(t->pin_path, sizeof(t->pin_path), "%s/user.pin", t->dir);
	snprintf(t->store_path, sizeof(t->store_path), "%s/kms.db", t->dir);
	if (kms_devtoken_write_file(t->pin_path, pin, sizeof(pin) - 1, 0600) != KMS_OK ||
	    mkdir(tokens, 0700) != 0) {
		(void)kms_devtoken_free(t);
		return -1;
	}
	if (kind == KMS_DEVTOKEN_NSS) {
		if (kms_devtoken_nss_params(t->params, sizeof(t->params), tokens, label) !=
			    KMS_OK ||
		    kms_devtoken_nss_init(nss, t->params, label, "87654321") != KMS_OK ||
		    kms_devtoken_open_params(&t->p11, nss, t->params, label, t->pin_path) !=
			    KMS_OK) {
			(void)kms_devtoken_free(t);
			return -1;
		}
		return 0;
	}
	if (kms_devtoken_write_conf(conf, tokens) != KMS_OK ||
	    kms_devtoken_init_token(conf, label, "12345678", "87654321") != KMS_OK ||
	    kms_devtoken_open(&t->p11, kms_devtoken_module(), label, t->pin_path) != KMS_OK) {
		(void)kms_devtoken_free(t);
		return -1;
	}
	return 0;
}

int
kms_devtoken_free(struct kms_devtoken *t)
{
	int r = 0;

	kms_p11_free(t->p11);
	t->p11 = NULL;
	if (t->dir[0] != '\0') {
		r = kms_devtoken_rmtree(t->dir) == KMS_OK ? 0 : -1;
		t->dir[0] = '\0';
	}
	return r;
}
