#include "models/io/json_read.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct parser {
    const char *name;
    const char *p, *start, *end;
    int depth;
    elbo_status st;
} parser;

static int fail(parser *ps, const char *what)
{
    if (ps->st == ELBO_OK)
        ps->st = elbo_fail(ELBO_ERR_FORMAT, "%s: JSON: %s at byte %zu", ps->name, what, (size_t)(ps->p - ps->start));
    return 0;
}

static void ws(parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static int nomem(parser *ps)
{
    if (ps->st == ELBO_OK)
        ps->st = elbo_fail(ELBO_ERR_NOMEM, "%s: JSON: out of memory", ps->name);
    return 0;
}

static int hex4(parser *ps, unsigned *v)
{
    if (ps->end - ps->p < 4)
        return fail(ps, "truncated \\u escape");
    *v = 0;
    for (int i = 0; i < 4; i++) {
        char c = *ps->p++;
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0)
            return fail(ps, "bad \\u escape");
        *v = *v << 4 | (unsigned)d;
    }
    return 1;
}

static size_t utf8_put(char *o, unsigned cp)
{
    if (cp < 0x80)
        return o[0] = (char)cp, 1;
    if (cp < 0x800)
        return o[0] = (char)(0xC0 | cp >> 6), o[1] = (char)(0x80 | (cp & 0x3F)), 2;
    if (cp < 0x10000)
        return o[0] = (char)(0xE0 | cp >> 12), o[1] = (char)(0x80 | ((cp >> 6) & 0x3F)), o[2] = (char)(0x80 | (cp & 0x3F)), 3;
    o[0] = (char)(0xF0 | cp >> 18), o[1] = (char)(0x80 | ((cp >> 12) & 0x3F)), o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* A string at ps->p (on the opening quote) into a malloc'd buffer. */
static int string(parser *ps, char **out, size_t *out_len)
{
    ps->p++; /* the quote */
    const char *q = ps->p;
    while (q < ps->end && *q != '"') /* upper bound of the length: escapes only shrink */
        q += (*q == '\\' && q + 1 < ps->end) ? 2 : 1;
    if (q >= ps->end)
        return fail(ps, "unterminated string");
    char *s = malloc((size_t)(q - ps->p) + 1);
    if (!s)
        return nomem(ps);
    size_t k = 0;
    while (*ps->p != '"') {
        unsigned char c = (unsigned char)*ps->p++;
        if (c < 0x20) {
            free(s);
            ps->p--;
            return fail(ps, "control character in a string");
        }
        if (c != '\\') {
            s[k++] = (char)c;
            continue;
        }
        char e = *ps->p++;
        unsigned cp;
        switch (e) {
        case '"': case '\\': case '/':
            s[k++] = e;
            break;
        case 'b': s[k++] = '\b'; break;
        case 'f': s[k++] = '\f'; break;
        case 'n': s[k++] = '\n'; break;
        case 'r': s[k++] = '\r'; break;
        case 't': s[k++] = '\t'; break;
        case 'u':
            if (!hex4(ps, &cp)) {
                free(s);
                return 0;
            }
            if (cp >= 0xD800 && cp <= 0xDBFF) { /* a surrogate pair */
                unsigned lo;
                if (ps->end - ps->p < 2 || ps->p[0] != '\\' || ps->p[1] != 'u' || (ps->p += 2, !hex4(ps, &lo)) ||
                    lo < 0xDC00 || lo > 0xDFFF) {
                    free(s);
                    return fail(ps, "unpaired surrogate in \\u escape");
                }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                free(s);
                return fail(ps, "unpaired surrogate in \\u escape");
            }
            if (cp == 0) {
                free(s);
                return fail(ps, "\\u0000 in a string");
            }
            k += utf8_put(s + k, cp); /* \uXXXX is 6 bytes, its UTF-8 at most 4 (a pair: 12 -> 4) */
            break;
        default:
            free(s);
            ps->p--;
            return fail(ps, "bad escape");
        }
    }
    ps->p++;
    s[k] = '\0';
    *out = s;
    *out_len = k;
    return 1;
}

static int number(parser *ps, elbo_jv *v)
{
    const char *s = ps->p;
    int plain = 1;
    if (ps->p < ps->end && *ps->p == '-')
        ps->p++, plain = 0;
    if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9')
        return fail(ps, "bad number");
    if (*ps->p == '0')
        ps->p++;
    else
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
            ps->p++;
    if (ps->p < ps->end && *ps->p == '.') {
        ps->p++, plain = 0;
        if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9')
            return fail(ps, "bad number");
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
            ps->p++;
    }
    if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
        ps->p++, plain = 0;
        if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
            ps->p++;
        if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9')
            return fail(ps, "bad number");
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
            ps->p++;
    }
    char buf[64];
    size_t n = (size_t)(ps->p - s);
    if (n >= sizeof buf)
        return fail(ps, "number too long");
    memcpy(buf, s, n);
    buf[n] = '\0';
    v->type = ELBO_JV_NUMBER;
    v->num = strtod(buf, NULL);
    if (plain) {
        uint64_t u = 0;
        int ok = 1;
        for (size_t i = 0; i < n && ok; i++)
            ok = !__builtin_mul_overflow(u, 10u, &u) && !__builtin_add_overflow(u, (uint64_t)(buf[i] - '0'), &u);
        v->is_uint = ok;
        v->u = ok ? u : 0;
    }
    return 1;
}

static int value(parser *ps, elbo_jv *v);

static int push(parser *ps, elbo_jv *v, size_t *cap, char *key)
{
    if (v->n == *cap) {
        size_t c = *cap ? 2 * *cap : 4;
        elbo_jv *it = realloc(v->items, c * sizeof *it);
        if (!it)
            return nomem(ps);
        v->items = it;
        if (v->type == ELBO_JV_OBJECT) {
            char **k = realloc(v->keys, c * sizeof *k);
            if (!k)
                return nomem(ps);
            v->keys = k;
        }
        *cap = c;
    }
    memset(&v->items[v->n], 0, sizeof v->items[0]);
    if (key)
        v->keys[v->n] = key;
    v->n++;
    return 1;
}

static int container(parser *ps, elbo_jv *v, char close)
{
    if (++ps->depth > ELBO_JV_MAX_DEPTH)
        return fail(ps, "nesting too deep");
    v->type = close == ']' ? ELBO_JV_ARRAY : ELBO_JV_OBJECT;
    ps->p++;
    size_t cap = 0;
    ws(ps);
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        ps->depth--;
        return 1;
    }
    for (;;) {
        char *key = NULL;
        if (close == '}') {
            ws(ps);
            size_t klen;
            if (ps->p >= ps->end || *ps->p != '"' || !string(ps, &key, &klen))
                return ps->st == ELBO_OK ? fail(ps, "expected a key") : 0;
            for (size_t i = 0; i < v->n; i++)
                if (strcmp(v->keys[i], key) == 0) {
                    free(key);
                    return fail(ps, "duplicate key");
                }
            ws(ps);
            if (ps->p >= ps->end || *ps->p != ':') {
                free(key);
                return fail(ps, "expected ':'");
            }
            ps->p++;
        }
        if (!push(ps, v, &cap, key)) {
            free(key);
            return 0;
        }
        if (!value(ps, &v->items[v->n - 1]))
            return 0;
        ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == close) {
            ps->p++;
            ps->depth--;
            return 1;
        }
        return fail(ps, close == ']' ? "expected ',' or ']'" : "expected ',' or '}'");
    }
}

static int literal(parser *ps, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
        return fail(ps, "unexpected character");
    ps->p += n;
    return 1;
}

static int value(parser *ps, elbo_jv *v)
{
    ws(ps);
    if (ps->p >= ps->end)
        return fail(ps, "unexpected end");
    switch (*ps->p) {
    case '{':
        return container(ps, v, '}');
    case '[':
        return container(ps, v, ']');
    case '"':
        v->type = ELBO_JV_STRING;
        return string(ps, &v->str, &v->len);
    case 't':
        v->type = ELBO_JV_BOOL, v->b = true;
        return literal(ps, "true");
    case 'f':
        v->type = ELBO_JV_BOOL;
        return literal(ps, "false");
    case 'n':
        v->type = ELBO_JV_NULL;
        return literal(ps, "null");
    default:
        if (*ps->p != '-' && (*ps->p < '0' || *ps->p > '9'))
            return fail(ps, "unexpected character");
        return number(ps, v);
    }
}

static void jv_clear(elbo_jv *v)
{
    for (size_t i = 0; i < v->n; i++) {
        jv_clear(&v->items[i]);
        if (v->keys)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->str);
}

void elbo_jv_free(elbo_jv *v)
{
    if (!v)
        return;
    jv_clear(v);
    free(v);
}

elbo_status elbo_jv_parse(const char *name, const char *text, size_t len, elbo_jv **out)
{
    *out = NULL;
    parser ps = {name, text, text, text + len, 0, ELBO_OK};
    elbo_jv *v = calloc(1, sizeof *v);
    if (!v)
        return elbo_fail(ELBO_ERR_NOMEM, "%s: JSON: out of memory", name);
    if (value(&ps, v)) {
        ws(&ps);
        if (ps.p != ps.end)
            fail(&ps, "text after the value");
    }
    if (ps.st != ELBO_OK) {
        elbo_jv_free(v);
        return ps.st;
    }
    *out = v;
    return ELBO_OK;
}

const elbo_jv *elbo_jv_get(const elbo_jv *v, const char *key)
{
    if (!v || v->type != ELBO_JV_OBJECT)
        return NULL;
    for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->keys[i], key) == 0)
            return &v->items[i];
    return NULL;
}
