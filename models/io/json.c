#include "models/io/json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/io/file.h"
#include "models/io/numfmt.h"

#define INDENT 2
#define INITIAL_CAP 256

void elbo_json_init(elbo_json *j) { memset(j, 0, sizeof *j); }

void elbo_json_free(elbo_json *j)
{
    free(j->buf);
    memset(j, 0, sizeof *j);
}

static void append(elbo_json *j, const char *s, size_t n)
{
    if (j->status != ELBO_OK)
        return;
    if (j->len + n + 1 > j->cap) {
        size_t cap = j->cap ? j->cap : INITIAL_CAP;
        while (cap < j->len + n + 1)
            cap *= 2;
        char *b = realloc(j->buf, cap);
        if (!b) {
            j->status = elbo_fail(ELBO_ERR_NOMEM, "json: out of memory (%zu bytes)", cap);
            return;
        }
        j->buf = b;
        j->cap = cap;
    }
    memcpy(j->buf + j->len, s, n);
    j->len += n;
    j->buf[j->len] = '\0';
}

static void append_str(elbo_json *j, const char *s) { append(j, s, strlen(s)); }

static void newline_indent(elbo_json *j)
{
    append(j, "\n", 1);
    for (int i = 0; i < j->depth * INDENT; i++)
        append(j, " ", 1);
}

static void escaped(elbo_json *j, const char *s)
{
    append(j, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        switch (*p) {
        case '"': append(j, "\\\"", 2); break;
        case '\\': append(j, "\\\\", 2); break;
        case '\n': append(j, "\\n", 2); break;
        case '\r': append(j, "\\r", 2); break;
        case '\t': append(j, "\\t", 2); break;
        case '\b': append(j, "\\b", 2); break;
        case '\f': append(j, "\\f", 2); break;
        default:
            if (*p < 0x20) {
                snprintf(esc, sizeof esc, "\\u%04x", *p);
                append(j, esc, 6);
            } else {
                append(j, (const char *)p, 1); /* UTF-8 passes through unchanged */
            }
        }
    }
    append(j, "\"", 1);
}

static void misuse(elbo_json *j, const char *what)
{
    if (j->status == ELBO_OK)
        j->status = elbo_fail(ELBO_ERR_INVALID, "json: %s", what);
}

/* Separator, indentation and key before a value; false on misuse. */
static int begin_value(elbo_json *j, const char *key)
{
    if (j->status != ELBO_OK)
        return 0;
    if (j->depth == 0) {
        if (j->done)
            return misuse(j, "a second top-level value"), 0;
        if (key)
            return misuse(j, "a key at top level"), 0;
        return 1;
    }
    int lvl = j->depth - 1;
    if (j->in_array[lvl] && key)
        return misuse(j, "a key inside an array"), 0;
    if (!j->in_array[lvl] && !key)
        return misuse(j, "a value without a key inside an object"), 0;
    if (j->has_items[lvl])
        append(j, ",", 1);
    j->has_items[lvl] = true;
    newline_indent(j);
    if (key) {
        escaped(j, key);
        append(j, ": ", 2);
    }
    return 1;
}

static void end_value(elbo_json *j)
{
    if (j->depth == 0)
        j->done = true;
}

static void open_container(elbo_json *j, const char *key, bool array)
{
    if (!begin_value(j, key))
        return;
    if (j->depth >= ELBO_JSON_MAX_DEPTH)
        return misuse(j, "nesting too deep");
    append(j, array ? "[" : "{", 1);
    j->in_array[j->depth] = array;
    j->has_items[j->depth] = false;
    j->depth++;
}

static void close_container(elbo_json *j, bool array)
{
    if (j->status != ELBO_OK)
        return;
    if (j->depth == 0 || j->in_array[j->depth - 1] != array)
        return misuse(j, array ? "unbalanced end_array" : "unbalanced end_object");
    j->depth--;
    if (j->has_items[j->depth])
        newline_indent(j);
    append(j, array ? "]" : "}", 1);
    end_value(j);
}

void elbo_json_begin_object(elbo_json *j, const char *key) { open_container(j, key, false); }
void elbo_json_end_object(elbo_json *j) { close_container(j, false); }
void elbo_json_begin_array(elbo_json *j, const char *key) { open_container(j, key, true); }
void elbo_json_end_array(elbo_json *j) { close_container(j, true); }

static void raw_value(elbo_json *j, const char *key, const char *text)
{
    if (!begin_value(j, key))
        return;
    append_str(j, text);
    end_value(j);
}

void elbo_json_string(elbo_json *j, const char *key, const char *value)
{
    if (!value)
        return raw_value(j, key, "null");
    if (!begin_value(j, key))
        return;
    escaped(j, value);
    end_value(j);
}

void elbo_json_number(elbo_json *j, const char *key, double value)
{
    char buf[ELBO_NUMFMT_LEN];
    if (!isfinite(value))
        return raw_value(j, key, "null"); /* JSON has no NaN or Inf */
    elbo_fmt_double(buf, value);
    raw_value(j, key, buf);
}

void elbo_json_int(elbo_json *j, const char *key, long long value)
{
    char buf[ELBO_NUMFMT_LEN];
    snprintf(buf, sizeof buf, "%lld", value);
    raw_value(j, key, buf);
}

void elbo_json_uint(elbo_json *j, const char *key, uint64_t value)
{
    char buf[ELBO_NUMFMT_LEN];
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)value);
    raw_value(j, key, buf);
}

void elbo_json_bool(elbo_json *j, const char *key, bool value) { raw_value(j, key, value ? "true" : "false"); }

void elbo_json_null(elbo_json *j, const char *key) { raw_value(j, key, "null"); }

void elbo_json_numbers(elbo_json *j, const char *key, const double *values, size_t n)
{
    elbo_json_begin_array(j, key);
    for (size_t i = 0; i < n; i++)
        elbo_json_number(j, NULL, values[i]);
    elbo_json_end_array(j);
}

elbo_status elbo_json_status(const elbo_json *j) { return j->status; }

const char *elbo_json_text(const elbo_json *j) { return j->buf ? j->buf : ""; }

elbo_status elbo_json_save(const elbo_json *j, const char *path)
{
    if (j->status != ELBO_OK)
        return j->status;
    if (!j->done || j->depth != 0)
        return elbo_fail(ELBO_ERR_INVALID, "%s: json: document incomplete (%d open levels)", path, j->depth);
    elbo_afile a;
    elbo_status st = elbo_afile_open(&a, path);
    if (st != ELBO_OK)
        return st;
    elbo_afile_write(&a, j->buf, j->len);
    elbo_afile_write(&a, "\n", 1);
    return elbo_afile_commit(&a);
}
