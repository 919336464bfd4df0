/* Nested YAML mappings as dotted keys; see yaml_keys.h. */
#include "common/yaml_keys.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define YAML_KEYS_MAX_FILE (1 << 20)

const char *sb_yaml_quote(char *out, size_t cap, const char *s, size_t len)
{
    size_t n = 0;
    out[n++] = '"';
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (n + 8 >= cap) {
            memcpy(out + n, "...", 3);
            n += 3;
            break;
        }
        if (ch == '"' || ch == '\\') {
            out[n++] = '\\';
            out[n++] = (char)ch;
        } else if (ch < 0x20 || ch == 0x7f) {
            n += (size_t)snprintf(out + n, cap - n, "\\x%02x", ch);
        } else {
            out[n++] = (char)ch;
        }
    }
    out[n++] = '"';
    out[n] = 0;
    return out;
}

bool sb_yaml_is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *v = (const char *)n->data.scalar.value;
    return n->data.scalar.length == 0 || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
           strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

static size_t line_of(const yaml_node_t *n)
{
    return (size_t)n->start_mark.line + 1;
}

int sb_yaml_check_mapping_keys(const char *source, yaml_document_t *doc, const yaml_node_t *map,
                               const char *prefix, sb_err_t *err)
{
    yaml_node_pair_t *start = map->data.mapping.pairs.start, *top = map->data.mapping.pairs.top;
    for (yaml_node_pair_t *p = start; p < top; p++) {
        yaml_node_t *key = yaml_document_get_node(doc, p->key);
        if (!key || key->type != YAML_SCALAR_NODE)
            return sb_err_set(err, SB_EINVAL, "%s:%zu: keys must be plain names", source,
                              line_of(key ? key : map));
        for (yaml_node_pair_t *e = start; e < p; e++) {
            yaml_node_t *earlier = yaml_document_get_node(doc, e->key);
            if (earlier->data.scalar.length == key->data.scalar.length &&
                memcmp(earlier->data.scalar.value, key->data.scalar.value,
                       key->data.scalar.length) == 0) {
                char dotted[256], q[160];
                int n =
                    snprintf(dotted, sizeof(dotted), "%s%.*s", prefix,
                             (int)(key->data.scalar.length < 200 ? key->data.scalar.length : 200),
                             (const char *)key->data.scalar.value);
                sb_yaml_quote(q, sizeof(q), dotted, n < 0 ? 0 : strlen(dotted));
                return sb_err_set(err, SB_EINVAL, "%s:%zu: duplicate key %s (first at line %zu)",
                                  source, line_of(key), q, line_of(earlier));
            }
        }
    }
    return 0;
}

static int syntax_error(const yaml_parser_t *parser, const char *source, sb_err_t *err)
{
    if (parser->error == YAML_MEMORY_ERROR)
        return sb_err_set(err, SB_ENOMEM, "%s: out of memory", source);
    return sb_err_set(err, SB_EINVAL, "%s:%zu:%zu: YAML syntax error: %s%s%s", source,
                      (size_t)parser->problem_mark.line + 1,
                      (size_t)parser->problem_mark.column + 1,
                      parser->problem ? parser->problem : "malformed document",
                      parser->context ? " " : "", parser->context ? parser->context : "");
}

int sb_yaml_document_load(const char *source, const void *data, size_t len, yaml_document_t *doc,
                          sb_err_t *err)
{
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        return sb_err_set(err, SB_ENOMEM, "%s: out of memory", source);
    yaml_parser_set_input_string(&parser, data, len);
    if (!yaml_parser_load(&parser, doc)) {
        int rc = syntax_error(&parser, source, err);
        yaml_parser_delete(&parser);
        return rc;
    }
    /* A second document would silently be ignored; say so instead. */
    int rc = 0;
    yaml_document_t next;
    if (!yaml_parser_load(&parser, &next)) {
        rc = syntax_error(&parser, source, err);
    } else {
        yaml_node_t *root = yaml_document_get_root_node(&next);
        if (root)
            rc = sb_err_set(err, SB_EINVAL, "%s:%zu: only one YAML document is allowed", source,
                            line_of(root));
        yaml_document_delete(&next);
    }
    yaml_parser_delete(&parser);
    if (rc < 0) yaml_document_delete(doc);
    return rc;
}

bool sb_yaml_list_item(const char *key, const char *list, size_t *index, const char **field)
{
    size_t n = strlen(list);
    if (strncmp(key, list, n) != 0 || key[n] != '[' || key[n + 1] < '0' || key[n + 1] > '9')
        return false;
    char *end = NULL;
    errno = 0;
    unsigned long long i = strtoull(key + n + 1, &end, 10);
    if (errno || *end != ']' || (end[1] && end[1] != '.')) return false;
    *index = (size_t)i;
    *field = end[1] ? end + 2 : end + 1;
    return true;
}

static const sb_yaml_list_t *find_list(const sb_yaml_keys_spec_t *spec, const char *name)
{
    for (const sb_yaml_list_t *l = spec->lists; l && l->key; l++)
        if (strcmp(l->key, name) == 0) return l;
    return NULL;
}

static const char *kind_of(const yaml_node_t *n)
{
    return n->type == YAML_MAPPING_NODE    ? "mapping"
           : n->type == YAML_SEQUENCE_NODE ? "list"
                                           : "value";
}

/* One leaf: set(name, value), its error located at line. */
static int leaf(const char *source, size_t line, const char *name, const yaml_node_t *v,
                const sb_yaml_keys_spec_t *spec, void *arg, sb_err_t *err)
{
    char value[1024];
    if (v->data.scalar.length >= sizeof(value))
        return sb_err_set(err, SB_EINVAL, "%s:%zu: %s: value longer than %zu bytes", source, line,
                          name, sizeof(value) - 1);
    memcpy(value, v->data.scalar.value, v->data.scalar.length);
    value[v->data.scalar.length] = 0;
    sb_err_t inner = {0};
    int rc = spec->set(arg, name, value, &inner);
    if (rc < 0) sb_err_set(err, rc, "%s:%zu: %s", source, line, inner.msg);
    return rc;
}

/* levels: how many mappings deep node may still go (1 = its values are leaves); in_item: node is
 * an item of a list of mappings, whose fields are single values. */
static int walk(const char *source, yaml_document_t *doc, yaml_node_t *node, const char *prefix,
                int levels, bool in_item, const sb_yaml_keys_spec_t *spec, void *arg,
                sb_err_t *err);

static int walk_list(const char *source, yaml_document_t *doc, yaml_node_t *seq, const char *name,
                     const sb_yaml_list_t *list, const sb_yaml_keys_spec_t *spec, void *arg,
                     sb_err_t *err)
{
    size_t n = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = yaml_document_get_node(doc, seq->data.sequence.items.start[i]);
        if (!item) return sb_err_set(err, SB_EINVAL, "%s: malformed list", source);
        size_t line = (size_t)item->start_mark.line + 1;
        char item_name[256];
        if (snprintf(item_name, sizeof(item_name), "%s[%zu]", name, i) >= (int)sizeof(item_name))
            return sb_err_set(err, SB_EINVAL, "%s:%zu: key longer than %zu bytes", source, line,
                              sizeof(item_name) - 1);
        int rc;
        if (list->kind == SB_YAML_LIST_OF_VALUES) {
            rc = item->type == YAML_SCALAR_NODE
                     ? leaf(source, line, item_name, item, spec, arg, err)
                     : sb_err_set(err, SB_EINVAL, "%s:%zu: %s: expected a value, not a %s", source,
                                  line, item_name, kind_of(item));
        } else {
            rc =
                item->type == YAML_MAPPING_NODE
                    ? walk(source, doc, item, item_name, 1, true, spec, arg, err)
                    : sb_err_set(err, SB_EINVAL, "%s:%zu: %s: expected a mapping, not a %s", source,
                                 line, item_name, sb_yaml_is_null(item) ? "null" : kind_of(item));
        }
        if (rc == 0 && spec->item_done) {
            sb_err_t inner = {0};
            rc = spec->item_done(arg, item_name, &inner);
            if (rc < 0) sb_err_set(err, rc, "%s:%zu: %s", source, line, inner.msg);
        }
        if (rc < 0) return rc;
    }
    return 0;
}

static int walk(const char *source, yaml_document_t *doc, yaml_node_t *node, const char *prefix,
                int levels, bool in_item, const sb_yaml_keys_spec_t *spec, void *arg, sb_err_t *err)
{
    if (node->type != YAML_MAPPING_NODE)
        return sb_err_set(err, SB_EINVAL, "%s:%zu: expected a mapping%s%s", source,
                          (size_t)node->start_mark.line + 1, prefix[0] ? " under " : "", prefix);
    char dotted_prefix[260];
    snprintf(dotted_prefix, sizeof(dotted_prefix), "%s%s", prefix, prefix[0] ? "." : "");
    int checked = sb_yaml_check_mapping_keys(source, doc, node, dotted_prefix, err);
    if (checked < 0) return checked;
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
        const sb_yaml_list_t *list = find_list(spec, name);
        int rc;
        if (list) {
            rc = v->type == YAML_SEQUENCE_NODE
                     ? walk_list(source, doc, v, name, list, spec, arg, err)
                     : sb_err_set(err, SB_EINVAL,
                                  "%s:%zu: %s: expected a list, not a %s (write [] for none)",
                                  source, line, name, sb_yaml_is_null(v) ? "null" : kind_of(v));
        } else if (v->type == YAML_MAPPING_NODE && in_item) {
            rc = sb_err_set(err, SB_EINVAL, "%s:%zu: %s: expected a value, not a mapping", source,
                            line, name);
        } else if (v->type == YAML_MAPPING_NODE) {
            if (levels <= 1)
                return sb_err_set(err, SB_EINVAL, "%s:%zu: unknown key \"%s\"", source, line, name);
            rc = walk(source, doc, v, name, levels - 1, false, spec, arg, err);
        } else if (v->type == YAML_SCALAR_NODE) {
            rc = leaf(source, line, name, v, spec, arg, err);
        } else {
            rc = sb_err_set(err, SB_EINVAL, "%s:%zu: %s: expected a value, not a list", source,
                            line, name);
        }
        if (rc < 0) return rc;
    }
    return 0;
}

int sb_yaml_keys_load_string_spec(const char *source, const void *data, size_t len,
                                  const sb_yaml_keys_spec_t *spec, void *arg, sb_err_t *err)
{
    yaml_document_t doc;
    int rc = sb_yaml_document_load(source, data, len, &doc, err);
    if (rc < 0) return rc;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root && !sb_yaml_is_null(root))
        rc = walk(source, &doc, root, "", spec->max_depth ? spec->max_depth : INT_MAX, false, spec,
                  arg, err);
    yaml_document_delete(&doc);
    return rc;
}

int sb_yaml_keys_load_string(const char *source, const void *data, size_t len, int max_depth,
                             sb_yaml_set_fn set, void *arg, sb_err_t *err)
{
    sb_yaml_keys_spec_t spec = {.max_depth = max_depth, .set = set};
    return sb_yaml_keys_load_string_spec(source, data, len, &spec, arg, err);
}

int sb_yaml_keys_load_file(const char *path, int max_depth, sb_yaml_set_fn set, void *arg,
                           sb_err_t *err)
{
    sb_yaml_keys_spec_t spec = {.max_depth = max_depth, .set = set};
    return sb_yaml_keys_load_file_spec(path, &spec, arg, err);
}

int sb_yaml_keys_load_file_spec(const char *path, const sb_yaml_keys_spec_t *spec, void *arg,
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
                 : sb_yaml_keys_load_string_spec(path, data ? data : "", len, spec, arg, err);
    free(data);
    return rc;
}
