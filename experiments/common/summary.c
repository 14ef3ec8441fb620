#include "summary.h"

#include <stdio.h>
#include <string.h>

#include "models/io/file.h"
#include "report.h"

#define REV_MAX 64
#define UNKNOWN "unknown"

const char *elbo_git_revision_build(void); /* git_rev.c, generated at build time */

/* Build-time revision, else `git describe` at run time (when run from a checkout), else "unknown". */
const char *elbo_git_revision(void)
{
    static char rev[REV_MAX];
    if (rev[0])
        return rev;
    const char *built = elbo_git_revision_build();
    if (built && *built && strcmp(built, UNKNOWN) != 0 && built[0] != '@') {
        snprintf(rev, sizeof rev, "%s", built);
        return rev;
    }
    snprintf(rev, sizeof rev, "%s", UNKNOWN);
    FILE *p = popen("git describe --always --dirty --abbrev=12 2>/dev/null", "r");
    if (p) {
        char line[REV_MAX];
        if (fgets(line, sizeof line, p)) {
            line[strcspn(line, "\r\n")] = '\0';
            if (line[0])
                snprintf(rev, sizeof rev, "%s", line);
        }
        pclose(p);
    }
    return rev;
}

void elbo_summary_begin(elbo_summary *s, const elbo_cli *cli)
{
    elbo_json_init(&s->json);
    elbo_json_begin_object(&s->json, NULL);
    elbo_json_string(&s->json, "driver", cli->prog);
    elbo_json_begin_object(&s->json, "config");
    elbo_cli_config_json(cli, &s->json);
    elbo_json_end_object(&s->json);
    elbo_json_begin_object(&s->json, "results");
}

elbo_status elbo_summary_write(elbo_summary *s, const char *dir)
{
    elbo_json_end_object(&s->json); /* results */
    elbo_json_end_object(&s->json); /* top */
    elbo_status st = elbo_json_status(&s->json);
    if (st == ELBO_OK)
        st = elbo_mkdir_p(dir);
    if (st == ELBO_OK) {
        char path[4096];
        if (snprintf(path, sizeof path, "%s/summary.json", dir) >= (int)sizeof path)
            st = elbo_fail(ELBO_ERR_INVALID, "%s: output path too long", dir);
        else
            st = elbo_json_save(&s->json, path);
    }
    elbo_json_free(&s->json);
    /* The report reads summary.json back: every driver's folder gets its page. */
    if (st == ELBO_OK)
        st = elbo_report_write(dir);
    return st;
}

void elbo_summary_free(elbo_summary *s) { elbo_json_free(&s->json); }
