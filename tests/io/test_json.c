/* JSON writer: escaping, numbers, structure and misuse. */
#include <math.h>

#include "io_util.h"
#include "models/io/json.h"

Test(json, escaping)
{
    elbo_json j;
    elbo_json_init(&j);
    elbo_json_begin_object(&j, NULL);
    elbo_json_string(&j, "s", "quote\" back\\ nl\n tab\t cr\r bell\x07 bs\b ff\f unicode \xc3\xa9");
    elbo_json_string(&j, "k\"ey", NULL);
    elbo_json_end_object(&j);
    cr_assert_eq(elbo_json_status(&j), ELBO_OK);
    cr_assert_str_eq(elbo_json_text(&j), "{\n  \"s\": \"quote\\\" back\\\\ nl\\n tab\\t cr\\r bell\\u0007 bs\\b ff\\f "
                                         "unicode \xc3\xa9\",\n  \"k\\\"ey\": null\n}");
    elbo_json_free(&j);
}

Test(json, numbers_round_trip_and_nonfinite_is_null)
{
    elbo_json j;
    elbo_json_init(&j);
    elbo_json_begin_array(&j, NULL);
    elbo_json_number(&j, NULL, 0.1);
    elbo_json_number(&j, NULL, 1.0 / 3.0);
    elbo_json_number(&j, NULL, -0.0);
    elbo_json_number(&j, NULL, NAN);
    elbo_json_number(&j, NULL, -INFINITY);
    elbo_json_number(&j, NULL, 1e300);
    elbo_json_int(&j, NULL, -42);
    elbo_json_uint(&j, NULL, UINT64_MAX);
    elbo_json_bool(&j, NULL, true);
    elbo_json_end_array(&j);
    cr_assert_str_eq(elbo_json_text(&j), "[\n  0.1,\n  0.3333333333333333,\n  -0,\n  null,\n  null,\n  1e+300,\n  "
                                         "-42,\n  18446744073709551615,\n  true\n]");
    elbo_json_free(&j);
}

Test(json, nesting_and_empty_containers)
{
    elbo_json j;
    elbo_json_init(&j);
    elbo_json_begin_object(&j, NULL);
    elbo_json_begin_object(&j, "empty");
    elbo_json_end_object(&j);
    elbo_json_begin_array(&j, "list");
    elbo_json_begin_object(&j, NULL);
    elbo_json_int(&j, "a", 1);
    elbo_json_end_object(&j);
    elbo_json_end_array(&j);
    double v[2] = {1.5, 2};
    elbo_json_numbers(&j, "v", v, 2);
    elbo_json_end_object(&j);
    cr_assert_eq(elbo_json_status(&j), ELBO_OK);
    cr_assert_str_eq(elbo_json_text(&j), "{\n  \"empty\": {},\n  \"list\": [\n    {\n      \"a\": 1\n    }\n  ],\n"
                                         "  \"v\": [\n    1.5,\n    2\n  ]\n}");
    elbo_json_free(&j);
}

Test(json, misuse_is_sticky)
{
    elbo_json j;
    elbo_json_init(&j);
    elbo_json_begin_object(&j, NULL);
    elbo_json_int(&j, NULL, 1); /* no key in an object */
    cr_assert_eq(elbo_json_status(&j), ELBO_ERR_INVALID);
    elbo_json_free(&j);
    elbo_json_init(&j);
    elbo_json_begin_array(&j, NULL);
    elbo_json_int(&j, "k", 1); /* key in an array */
    cr_assert_eq(elbo_json_status(&j), ELBO_ERR_INVALID);
    elbo_json_free(&j);
    elbo_json_init(&j);
    elbo_json_begin_array(&j, NULL);
    elbo_json_end_object(&j);
    cr_assert_eq(elbo_json_status(&j), ELBO_ERR_INVALID);
    elbo_json_free(&j);
    elbo_json_init(&j);
    elbo_json_begin_object(&j, NULL);
    cr_assert_eq(elbo_json_save(&j, "/tmp/never-written.json"), ELBO_ERR_INVALID, "incomplete document");
    elbo_json_free(&j);
}

Test(json, save_atomically)
{
    char *dir = iu_tempdir();
    elbo_json j;
    elbo_json_init(&j);
    elbo_json_begin_object(&j, NULL);
    elbo_json_string(&j, "a", "b");
    elbo_json_end_object(&j);
    const char *p = iu_path(dir, "s.json");
    cr_assert_eq(elbo_json_save(&j, p), ELBO_OK, "%s", elbo_last_error());
    size_t n;
    char *text = (char *)iu_read(p, &n);
    text[n] = '\0';
    cr_assert_str_eq(text, "{\n  \"a\": \"b\"\n}\n");
    free(text);
    cr_assert_eq(iu_count_entries(dir), 1);
    elbo_json_free(&j);
    iu_rmdir(dir);
}
