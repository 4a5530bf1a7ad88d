/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The roster import file (roster-csv.h). The file is outside input: it may come from a
 * spreadsheet, a script or anyone who could write it. Limits come first (the file size, then
 * each line's length before its bytes are looked at), every line is checked for UTF-8 and
 * control characters as a whole, and fields are read through a bounded cursor. Reasons never
 * quote the input, so an error line cannot carry terminal escapes.
 */
#include "tools/roster-csv.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cbs.h"
#include "proto/mp.h"

#include "common/banned.h"

/* What parse_line found: up to KMS_ROSTER_CSV_MAX_FIELDS fields, each NUL-terminated. */
struct fields {
	char *f[KMS_ROSTER_CSV_MAX_FIELDS]; /* borrowed: in the arena */
	size_t n;
};

struct parser {
	struct kms_roster_csv *csv;
	size_t arena_cap, arena_len;
	size_t ops_cap;
	char *err;
	size_t err_cap;
};

static int say(struct parser *p, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int
say(struct parser *p, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(p->err, p->err_cap, fmt, ap);
	va_end(ap);
	return r;
}

/* Append byte c to the arena (its size was computed for the worst case: never full). */
static int
arena_put(struct parser *p, uint8_t c)
{
	if (p->arena_len >= p->arena_cap) {
		return KMS_ERR_INTERNAL;
	}
	p->csv->arena[p->arena_len++] = (char)c;
	return KMS_OK;
}

/*
 * The fields of one line (the cursor covers the line without its end) into out, decoded into
 * the arena. KMS_OK or KMS_ERR_PARSE (reason said).
 */
static int
parse_fields(struct parser *p, struct kms_cbs *line, struct fields *out)
{
	uint8_t c;
	int r;

	memset(out, 0, sizeof(*out));
	for (;;) {
		if (out->n == KMS_ROSTER_CSV_MAX_FIELDS) {
			return say(p, KMS_ERR_PARSE, "more than %d fields",
				   KMS_ROSTER_CSV_MAX_FIELDS);
		}
		out->f[out->n++] = p->csv->arena + p->arena_len;
		if (kms_cbs_len(line) > 0 && line->data[0] == '"') {
			if ((r = kms_cbs_skip(line, 1)) != KMS_OK) {
				return r;
			}

			for (;;) {
				if (kms_cbs_get_u8(line, &c) != KMS_OK) {
					return say(p, KMS_ERR_PARSE,
						   "an unterminated quoted field");
				}
				if (c == '"') {
					if (kms_cbs_len(line) == 0 || line->data[0] != '"') {
						break; /* the closing quote */
					}
					if ((r = kms_cbs_skip(line, 1)) != KMS_OK) {
						return r;
					}
					/* "" is a quote */
				}
				if ((r = arena_put(p, c)) != KMS_OK) {
					return r;
				}
			}
			if (kms_cbs_len(line) > 0 && line->data[0] != ',') {
				return say(p, KMS_ERR_PARSE, "text after a closing quote");
			}
		} else {
			while (kms_cbs_len(line) > 0 && line->data[0] != ',') {
				if (kms_cbs_get_u8(line, &c) != KMS_OK) {
					return KMS_ERR_INTERNAL;
				}
				if (c == '"') {
					return say(p, KMS_ERR_PARSE,
						   "a quote inside an unquoted field");
				}
				if ((r = arena_put(p, c)) != KMS_OK) {
					return r;
				}
			}
		}
		if ((r = arena_put(p, '\0')) != KMS_OK) {
			return r;
		}
		if (kms_cbs_len(line) == 0) {
			return KMS_OK;
		}
		if ((r = kms_cbs_skip(line, 1)) != KMS_OK) {
			return r;
		}
		/* the comma: another field follows, maybe empty */
	}
}

/* The line's characters were checked: only the length and spaces are left. */
static int
uri_ok(const char *s)
{
	size_t len = strlen(s);

	return len > 0 && len <= KMS_STORE_MAX_URI && strchr(s, ' ') == NULL;
}

static const struct {
	const char *name;
	enum kms_roster_op_kind kind;
	int has_client;
} op_names[] = {
	{"identity", KMS_ROSTER_ADD_IDENTITY, 0},
	{"entitle", KMS_ROSTER_ENTITLE, 1},
	{"revoke-identity", KMS_ROSTER_REVOKE_IDENTITY, 0},
	{"withdraw", KMS_ROSTER_WITHDRAW, 1},
};

/* The record in fs as an op appended to csv (line lineno): KMS_OK or an error (said). */
static int
add_op(struct parser *p, const struct fields *fs, size_t lineno)
{
	struct kms_roster_csv *csv = p->csv;
	struct kms_roster_op *op;
	size_t i, want;

	for (i = 0; i < sizeof(op_names) / sizeof(op_names[0]); i++) {
		if (strcmp(fs->f[0], op_names[i].name) == 0) {
			break;
		}
	}
	if (i == sizeof(op_names) / sizeof(op_names[0])) {
		return say(p, KMS_ERR_PARSE,
			   "unknown operation (identity, entitle, revoke-identity or withdraw)");
	}
	want = op_names[i].has_client ? 3 : 2;
	if (fs->n != want) {
		return say(p, KMS_ERR_PARSE, "'%s' wants %s", op_names[i].name,
			   op_names[i].has_client ? "CLIENT,URI" : "URI");
	}
	if (op_names[i].has_client && !kms_store_id_ok(fs->f[1], strlen(fs->f[1]))) {
		return say(p, KMS_ERR_PARSE, "CLIENT: 1 to %d visible ASCII characters",
			   KMS_STORE_MAX_ID);
	}
	if (!uri_ok(fs->f[want - 1])) {
		return say(p, KMS_ERR_PARSE, "URI: 1 to %d bytes without spaces",
			   KMS_STORE_MAX_URI);
	}
	if (csv->num_ops == KMS_STORE_MAX_ROSTER_OPS) {
		return say(p, KMS_ERR_TOO_LARGE, "more than %d changes", KMS_STORE_MAX_ROSTER_OPS);
	}
	if (csv->num_ops == p->ops_cap) {
		size_t cap = p->ops_cap == 0 ? 64 : p->ops_cap * 2;
		struct kms_roster_op *ops;
		size_t *lines;

		if (cap > KMS_STORE_MAX_ROSTER_OPS) {
			cap = KMS_STORE_MAX_ROSTER_OPS;
		}
		if ((ops = realloc(csv->ops, cap * sizeof(*ops))) == NULL) {
			return say(p, KMS_ERR_NOMEM, "out of memory");
		}
		csv->ops = ops;
		if ((lines = realloc(csv->lines, cap * sizeof(*lines))) == NULL) {
			return say(p, KMS_ERR_NOMEM, "out of memory");
		}
		csv->lines = lines;
		p->ops_cap = cap;
	}
	op = &csv->ops[csv->num_ops];
	op->kind = op_names[i].kind;
	op->client_id = op_names[i].has_client ? fs->f[1] : NULL;
	op->uri = fs->f[want - 1];
	csv->lines[csv->num_ops] = lineno;
	csv->num_ops++;
	return KMS_OK;
}

int
kms_roster_csv_parse(struct kms_roster_csv *out, size_t *out_line, char *err, size_t err_cap,
		     const uint8_t *data, size_t len)
{
	struct parser p;
	struct kms_cbs in, line;
	struct fields fs;
	const uint8_t *nl;
	size_t n, lineno = 0, num_lines = 1, line_len, mark;
	int seen_record = 0, r = KMS_ERR_INTERNAL;

	if (out != NULL) {
		memset(out, 0, sizeof(*out));
	}
	if (out_line != NULL) {
		*out_line = 0;
	}
	if (out == NULL || out_line == NULL || err == NULL || err_cap == 0 ||
	    (data == NULL && len > 0)) {
		return KMS_ERR_INVALID_ARG;
	}
	err[0] = '\0';
	memset(&p, 0, sizeof(p));
	p.csv = out;
	p.err = err;
	p.err_cap = err_cap;
	if (len > KMS_ROSTER_CSV_MAX_FILE) {
		return say(&p, KMS_ERR_TOO_LARGE, "larger than %u bytes", KMS_ROSTER_CSV_MAX_FILE);
	}
	/*
	 * The arena's worst case: every byte of every line decoded (quoting only shrinks a field)
	 * and a NUL for each of at most KMS_ROSTER_CSV_MAX_FIELDS fields a line. len is at most
	 * 16 MiB: no overflow.
	 */
	for (n = 0; n < len; n++) {
		num_lines += data[n] == '\n';
	}
	p.arena_cap = len + num_lines * KMS_ROSTER_CSV_MAX_FIELDS + 1;
	if ((out->arena = malloc(p.arena_cap)) == NULL) {
		r = say(&p, KMS_ERR_NOMEM, "out of memory");
		goto out;
	}
	kms_cbs_init(&in, data, len);
	if (len >= 3 && data[0] == 0xef && data[1] == 0xbb && data[2] == 0xbf) {
		if ((r = kms_cbs_skip(&in, 3)) != KMS_OK) {
			goto out;
		}
	}
	while (kms_cbs_len(&in) > 0) {
		lineno++;
		nl = memchr(in.data, '\n', kms_cbs_len(&in));
		line_len = nl != NULL ? (size_t)(nl - in.data) : kms_cbs_len(&in);
		if ((r = kms_cbs_get_bytes(&in, &line, line_len)) != KMS_OK) {
			goto out;
		}
		if (nl != NULL && (r = kms_cbs_skip(&in, 1)) != KMS_OK) {
			goto out;
		}
		if (kms_cbs_len(&line) > 0 && line.data[kms_cbs_len(&line) - 1] == '\r') {
			line.len--; /* CRLF */
		}
		if (kms_cbs_len(&line) > KMS_ROSTER_CSV_MAX_LINE) {
			r = say(&p, KMS_ERR_TOO_LARGE, "a line longer than %d bytes",
				KMS_ROSTER_CSV_MAX_LINE);
			goto bad_line;
		}
		if (kms_mp_text_check(line.data, kms_cbs_len(&line)) != KMS_OK) {
			r = say(&p, KMS_ERR_PARSE, "not UTF-8, or a control character");
			goto bad_line;
		}
		if (kms_cbs_len(&line) == 0 || line.data[0] == '#') {
			continue;
		}
		mark = p.arena_len;
		if ((r = parse_fields(&p, &line, &fs)) != KMS_OK) {
			goto bad_line;
		}
		if (!seen_record && strcmp(fs.f[0], "op") == 0) {
			seen_record = 1;
			p.arena_len = mark; /* the header: nothing kept */
			continue;
		}
		seen_record = 1;
		if ((r = add_op(&p, &fs, lineno)) != KMS_OK) {
			goto bad_line;
		}
	}
	r = KMS_OK;
	goto out;
bad_line:
	*out_line = lineno;
out:
	if (r != KMS_OK) {
		if (err[0] == '\0') {
			(void)say(&p, r, "%s", kms_strerror(r));
		}
		kms_roster_csv_cleanup(out);
	}
	return r;
}

void
kms_roster_csv_cleanup(struct kms_roster_csv *csv)
{
	if (csv == NULL) {
		return;
	}
	free(csv->ops);
	free(csv->lines);
	free(csv->arena);
	memset(csv, 0, sizeof(*csv));
}
