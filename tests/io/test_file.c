/* Atomic writes, the write-limit hook, whole-file reads and mkdir -p. */
#include <sys/stat.h>

#include "io_util.h"
#include "models/io/file.h"

static char *dir;
static void setup(void) { dir = iu_tempdir(); }
static void teardown(void) { iu_rmdir(dir); }
TestSuite(file, .init = setup, .fini = teardown);

Test(file, atomic_replace)
{
    const char *p = iu_path(dir, "a.txt");
    cr_assert_eq(elbo_write_file_atomic(p, "old", 3), ELBO_OK);
    cr_assert_eq(elbo_write_file_atomic(p, "newer", 5), ELBO_OK);
    uint8_t *b;
    size_t n;
    cr_assert_eq(elbo_read_file(p, 0, &b, &n), ELBO_OK);
    cr_assert_eq(n, 5);
    cr_assert_str_eq((char *)b, "newer", "NUL-terminated");
    free(b);
    cr_assert_eq(iu_count_entries(dir), 1);
    struct stat sb;
    stat(p, &sb);
    cr_assert_eq(sb.st_mode & 0777, 0644);
}

Test(file, sticky_error_and_abort)
{
    elbo_afile a;
    const char *p = iu_path(dir, "b.txt");
    cr_assert_eq(elbo_afile_open(&a, p), ELBO_OK);
    elbo_afile_printf(&a, "%d %s", 42, "x");
    cr_assert_eq(iu_count_entries(dir), 1, "only the temp file");
    elbo_afile_abort(&a);
    cr_assert_eq(iu_count_entries(dir), 0);
    elbo_afile_abort(&a); /* twice is harmless */
    cr_assert_eq(elbo_afile_open(&a, p), ELBO_OK);
    elbo_io_set_write_limit(10);
    elbo_afile_write(&a, "0123456789abc", 13);
    cr_assert_eq(a.status, ELBO_ERR_IO);
    elbo_io_set_write_limit(-1);
    cr_assert_eq(elbo_afile_write(&a, "more", 4), ELBO_ERR_IO, "errors are sticky");
    cr_assert_eq(elbo_afile_commit(&a), ELBO_ERR_IO);
    cr_assert_eq(iu_count_entries(dir), 0, "no file, no temp file");
}

Test(file, long_printf)
{
    elbo_afile a;
    const char *p = iu_path(dir, "c.txt");
    char big[3000];
    memset(big, 'z', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    cr_assert_eq(elbo_afile_open(&a, p), ELBO_OK);
    elbo_afile_printf(&a, "<%s>", big);
    cr_assert_eq(elbo_afile_commit(&a), ELBO_OK);
    size_t n;
    free(iu_read(p, &n));
    cr_assert_eq(n, sizeof big + 1);
}

Test(file, read_rejects_special_and_large)
{
    uint8_t *b;
    size_t n;
    cr_assert_eq(elbo_read_file(dir, 0, &b, &n), ELBO_ERR_IO);
    iu_assert_msg_has("got a directory");
    cr_assert_eq(elbo_read_file("/dev/null", 0, &b, &n), ELBO_ERR_IO);
    iu_assert_msg_has("special file");
    const char *p = iu_path(dir, "big");
    iu_write(p, "0123456789", 10);
    cr_assert_eq(elbo_read_file(p, 5, &b, &n), ELBO_ERR_FORMAT);
    iu_assert_msg_has("too large");
    cr_assert_null(b);
}

Test(file, mkdir_p)
{
    const char *p = iu_path(dir, "x/y/z");
    cr_assert_eq(elbo_mkdir_p(p), ELBO_OK, "%s", elbo_last_error());
    cr_assert_eq(elbo_mkdir_p(p), ELBO_OK, "idempotent");
    struct stat sb;
    cr_assert_eq(stat(p, &sb), 0);
    cr_assert(S_ISDIR(sb.st_mode));
    iu_write(iu_path(dir, "f"), "", 0);
    cr_assert_eq(elbo_mkdir_p(iu_path(dir, "f/sub")), ELBO_ERR_IO);
    iu_assert_msg_has("got a file");
    rmdir(iu_path(dir, "x/y/z"));
    rmdir(iu_path(dir, "x/y"));
}
