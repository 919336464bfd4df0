/* Nested YAML mappings as dotted keys; see yaml_keys.h. */
#include "common/yaml_keys.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define YAML_KEYS_MAX_FILE (1 << 20)

static int walk(const char *source, yaml_document_t *doc, yaml_node_t *node, const char *prefix,
                int depth, int max_depth, sb_yaml_set_fn set, void *arg, sb_err_t *err)
{
    if (node->type != YAML_MAPPING_NODE)
        return sb_err_set(err, SB_EINVAL, "%s:%zu: expected a mapping%s%s", source,
                          (size_t)node->start_mark.line + 1, prefix[0] ? " under " : "", prefix);
    for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        yaml_node_t *v = yaml_document_get_node(doc, p->value);
        if (!k || !v || k->type != YAML_SCALAR_NODE)
            return sb_err_set(err, SB_EINVAL, "%s: malformed mapping", source);
        size_t line = (size_t)k->start_mark.line + 1;
        char name[256];
        if (snprintf(name, sizeof(name), "%s%s%.*s", prefix, prefix[0] ? "." : "",
                     (int)k->data.scalar.length,
                     (const char *)k->data.scalar.value) >= (int)sizeof(name))
            return sb_err_set(err, SB_EINVAL, "%s:%zu: key longer than %zu bytes", source, line,
                              sizeof(name) - 1);
        int rc;
        if (v->type == YAML_MAPPING_NODE) {
            if (max_depth && depth + 1 >= max_depth)
                return sb_err_set(err, SB_EINVAL, "%s:%zu: unknown key \"%s\"", source, line, name);
            rc = walk(source, doc, v, name, depth + 1, max_depth, set, arg, err);
        } else if (v->type == YAML_SCALAR_NODE) {
            char value[1024];
            if (v->data.scalar.length >= sizeof(value))
                return sb_err_set(err, SB_EINVAL, "%s:%zu: %s: value longer than %zu bytes", source,
                                  line, name, sizeof(value) - 1);
            memcpy(value, v->data.scalar.value, v->data.scalar.length);
            value[v->data.scalar.length] = 0;
            sb_err_t inner = {0};
            rc = set(arg, name, value, &inner);
            if (rc < 0) sb_err_set(err, rc, "%s:%zu: %s", source, line, inner.msg);
        } else {
            rc = sb_err_set(err, SB_EINVAL, "%s:%zu: %s: expected a value, not a list", source,
                            line, name);
        }
        if (rc < 0) return rc;
    }
    return 0;
}

int sb_yaml_keys_load_string(const char *source, const void *data, size_t len, int max_depth,
                             sb_yaml_set_fn set, void *arg, sb_err_t *err)
{
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) return sb_err_set(err, SB_ENOMEM, "out of memory");
    yaml_parser_set_input_string(&parser, data, len);
    yaml_document_t doc;
    if (!yaml_parser_load(&parser, &doc)) {
        int rc =
            sb_err_set(err, SB_EINVAL, "%s:%zu: %s", source, (size_t)parser.problem_mark.line + 1,
                       parser.problem ? parser.problem : "YAML syntax error");
        yaml_parser_delete(&parser);
        return rc;
    }
    int rc = 0;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root && !(root->type == YAML_SCALAR_NODE && root->data.scalar.length == 0))
        rc = walk(source, &doc, root, "", 0, max_depth, set, arg, err);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return rc;
}

int sb_yaml_keys_load_file(const char *path, int max_depth, sb_yaml_set_fn set, void *arg,
                           sb_err_t *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) return sb_err_set(err, SB_EIO, "cannot open %s: %s", path, strerror(errno));
    char *data = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            if (cap >= YAML_KEYS_MAX_FILE) {
                free(data);
                fclose(f);
                return sb_err_set(err, SB_ELIMIT, "%s: larger than 1 MiB", path);
            }
            cap = cap ? cap * 2 : 4096;
            char *grown = realloc(data, cap);
            if (!grown) {
                free(data);
                fclose(f);
                return sb_err_set(err, SB_ENOMEM, "out of memory");
            }
            data = grown;
        }
        size_t n = fread(data + len, 1, cap - len, f);
        if (n == 0) break;
        len += n;
    }
    int read_error = ferror(f);
    fclose(f);
    int rc = read_error
                 ? sb_err_set(err, SB_EIO, "%s: read error", path)
                 : sb_yaml_keys_load_string(path, data ? data : "", len, max_depth, set, arg, err);
    free(data);
    return rc;
}
