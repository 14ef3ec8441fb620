#include "data.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "models/io/datafile.h"

/* Fixed: the held-out split must not change with --seed. */
#define SPLIT_SEED 0x5EED5EEDull
#define INFO_MAX 2048

elbo_data_flags elbo_data_opt;

static const char *opt_or_null(const char *s) { return s && *s ? s : NULL; }

/* "28x28" -> h, w; "" -> 0, 0. */
static int parse_size(const char *text, int *h, int *w)
{
    *h = *w = 0;
    if (!text || !*text)
        return 1;
    char *end;
    long a = strtol(text, &end, 10);
    if (end == text || (*end != 'x' && *end != 'X'))
        return 0;
    const char *s = end + 1;
    long b = strtol(s, &end, 10);
    if (end == s || *end || a < 1 || b < 1 || a > 16384 || b > 16384)
        return 0;
    *h = (int)a;
    *w = (int)b;
    return 1;
}

/* The hint for data that is not there at all. */
static const char *hint(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) != 0 && errno == ENOENT)
        return "; Fashion-MNIST: run scripts/fetch-data.sh DIR, or give a .npy, .npz or PNG class folder";
    return "";
}

/* The request --data and its flags describe; ELBO_EXIT_USAGE on a bad --image-size. */
static int data_request(const elbo_cli *cli, elbo_data_request *rq)
{
    memset(rq, 0, sizeof *rq);
    rq->path = cli->data;
    rq->labels = opt_or_null(elbo_data_opt.labels);
    rq->test_path = opt_or_null(elbo_data_opt.test_data);
    rq->test_labels = opt_or_null(elbo_data_opt.test_labels);
    rq->labels_key = opt_or_null(elbo_data_opt.labels_key);
    rq->layout = (elbo_layout)elbo_data_opt.layout;
    rq->test_fraction = elbo_data_opt.test_fraction;
    rq->split_seed = SPLIT_SEED;
    if (!parse_size(elbo_data_opt.image_size, &rq->height, &rq->width)) {
        fprintf(stderr, "%s: --image-size: expected HxW (e.g. 32x32), got '%s'\n", cli->prog,
                elbo_data_opt.image_size);
        return ELBO_EXIT_USAGE;
    }
    return ELBO_EXIT_OK;
}

/* One line per split: "PROG: data: train: ..." */
static void print_info(const elbo_cli *cli, char *info)
{
    char *save;
    for (char *line = strtok_r(info, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        printf("%s: data: %s\n", cli->prog, line);
}

elbo_status elbo_data_try_load(const elbo_cli *cli, elbo_dataset *train, elbo_dataset *test, bool quiet)
{
    elbo_data_request rq;
    if (data_request(cli, &rq) != ELBO_EXIT_OK)
        exit(ELBO_EXIT_USAGE);
    char info[INFO_MAX];
    elbo_status st = elbo_data_load(&rq, train, test, info, sizeof info);
    if (st != ELBO_OK) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", elbo_last_error());
        return elbo_fail(st, "%s%s", msg, st == ELBO_ERR_NOMEM ? "" : hint(cli->data));
    }
    if (!quiet)
        print_info(cli, info);
    return ELBO_OK;
}

void elbo_data_load_cli(const elbo_cli *cli, elbo_dataset *train, elbo_dataset *test)
{
    elbo_data_request rq;
    if (data_request(cli, &rq) != ELBO_EXIT_OK)
        exit(ELBO_EXIT_USAGE);
    char info[INFO_MAX];
    elbo_status st = elbo_data_load(&rq, train, test, info, sizeof info);
    if (st != ELBO_OK) {
        fprintf(stderr, "%s: %s (%s)%s\n", cli->prog, elbo_last_error(), elbo_status_name(st),
                st == ELBO_ERR_NOMEM ? "" : hint(cli->data));
        exit(elbo_exit_code(st, true));
    }
    print_info(cli, info);
}
