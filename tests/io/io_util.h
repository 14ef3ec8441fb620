/* Helpers of the io tests: files in a per-test temp directory. */
#ifndef ELBO_TEST_IO_UTIL_H
#define ELBO_TEST_IO_UTIL_H

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_util.h"

/* DIR/NAME in a static rotating buffer. */
static inline const char *iu_path(const char *dir, const char *name)
{
    static char buf[8][4096];
    static int next;
    char *p = buf[next++ & 7];
    size_t a = strlen(dir), b = strlen(name);
    cr_assert(a + b + 2 <= sizeof buf[0], "path too long");
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

static inline void iu_write(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert(f, "cannot create %s", path);
    if (n)
        cr_assert_eq(fwrite(data, 1, n, f), n);
    fclose(f);
}

static inline void iu_write_str(const char *path, const char *s) { iu_write(path, s, strlen(s)); }

/* Whole file into a malloc'd buffer (NULL if absent). */
static inline uint8_t *iu_read(const char *path, size_t *n)
{
    *n = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)len + 1);
    cr_assert(b);
    *n = fread(b, 1, (size_t)len, f);
    fclose(f);
    return b;
}

/* Entries in dir other than . and .. (to prove no temp file was left behind). */
static inline int iu_count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    cr_assert(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static inline char *iu_tempdir(void)
{
    char *d = tu_tempdir();
    cr_assert(d, "mkdtemp failed");
    return d;
}

/* rm -rf of a flat test directory. */
static inline void iu_rmdir(char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
                const char *p = iu_path(dir, e->d_name);
                if (remove(p) != 0) { /* a subdirectory: one level is enough for these tests */
                    DIR *s = opendir(p);
                    if (s) {
                        char sub[4096];
                        snprintf(sub, sizeof sub, "%s", p);
                        struct dirent *f;
                        while ((f = readdir(s)))
                            if (strcmp(f->d_name, ".") && strcmp(f->d_name, ".."))
                                remove(iu_path(sub, f->d_name));
                        closedir(s);
                        remove(sub);
                    }
                }
            }
        closedir(d);
    }
    remove(dir);
    free(dir);
}

#define iu_assert_msg_has(needle) \
    cr_assert(strstr(elbo_last_error(), (needle)), "message '%s' lacks '%s'", elbo_last_error(), (needle))

#endif
