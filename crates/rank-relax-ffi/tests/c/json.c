/* A small JSON reader for the C test program. Recursive descent over the whole text; numbers via
 * strtod (the C locale), strings with every escape including \uXXXX surrogate pairs. */
#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *text;
    size_t pos;
    char *error;
    size_t error_size;
    int failed;
} parser;

static void fail(parser *p, const char *what)
{
    if (!p->failed) {
        snprintf(p->error, p->error_size, "%s at byte %lu", what, (unsigned long)p->pos);
        p->failed = 1;
    }
}

static void skip_space(parser *p)
{
    for (;;) {
        char c = p->text[p->pos];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            p->pos++;
        } else {
            return;
        }
    }
}

static int parse_value(parser *p, json_value *out, int depth);

static int hex4(parser *p, unsigned *out)
{
    unsigned v = 0;
    int i;
    for (i = 0; i < 4; i++) {
        char c = p->text[p->pos + (size_t)i];
        v <<= 4;
        if (c >= '0' && c <= '9') {
            v |= (unsigned)(c - '0');
        } else if (c >= 'a' && c <= 'f') {
            v |= (unsigned)(c - 'a' + 10);
        } else if (c >= 'A' && c <= 'F') {
            v |= (unsigned)(c - 'A' + 10);
        } else {
            fail(p, "bad \\u escape");
            return 0;
        }
    }
    p->pos += 4;
    *out = v;
    return 1;
}

static size_t put_utf8(char *dst, unsigned cp)
{
    if (cp < 0x80) {
        dst[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        dst[0] = (char)(0xC0 | (cp >> 6));
        dst[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        dst[0] = (char)(0xE0 | (cp >> 12));
        dst[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        dst[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    dst[0] = (char)(0xF0 | (cp >> 18));
    dst[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    dst[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    dst[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* At the opening quote. The decoded string is never longer than its source text. */
static char *parse_string(parser *p)
{
    size_t start = ++p->pos;
    size_t end = start;
    char *out;
    size_t len = 0;
    while (p->text[end] != '"') {
        if (p->text[end] == '\0') {
            fail(p, "unterminated string");
            return NULL;
        }
        if (p->text[end] == '\\' && p->text[end + 1] != '\0') {
            end++;
        }
        end++;
    }
    out = malloc(end - start + 1);
    if (out == NULL) {
        fail(p, "out of memory");
        return NULL;
    }
    while (p->text[p->pos] != '"') {
        char c = p->text[p->pos++];
        if ((unsigned char)c < 0x20) {
            fail(p, "control character in string");
            free(out);
            return NULL;
        }
        if (c != '\\') {
            out[len++] = c;
            continue;
        }
        c = p->text[p->pos++];
        switch (c) {
        case '"': out[len++] = '"'; break;
        case '\\': out[len++] = '\\'; break;
        case '/': out[len++] = '/'; break;
        case 'b': out[len++] = '\b'; break;
        case 'f': out[len++] = '\f'; break;
        case 'n': out[len++] = '\n'; break;
        case 'r': out[len++] = '\r'; break;
        case 't': out[len++] = '\t'; break;
        case 'u': {
            unsigned cp, low;
            if (!hex4(p, &cp)) {
                free(out);
                return NULL;
            }
            if (cp >= 0xD800 && cp < 0xDC00 && p->text[p->pos] == '\\' && p->text[p->pos + 1] == 'u') {
                p->pos += 2;
                if (!hex4(p, &low)) {
                    free(out);
                    return NULL;
                }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            }
            len += put_utf8(out + len, cp);
            break;
        }
        default:
            fail(p, "bad escape");
            free(out);
            return NULL;
        }
    }
    p->pos++;
    out[len] = '\0';
    return out;
}

static int grow(parser *p, json_value *v, size_t *cap, int with_keys)
{
    size_t n;
    json_value *items;
    if (v->count < *cap) {
        return 1;
    }
    n = *cap == 0 ? 4 : *cap * 2;
    items = realloc(v->items, n * sizeof *items);
    if (items == NULL) {
        fail(p, "out of memory");
        return 0;
    }
    v->items = items;
    if (with_keys) {
        char **keys = realloc(v->keys, n * sizeof *keys);
        if (keys == NULL) {
            fail(p, "out of memory");
            return 0;
        }
        v->keys = keys;
    }
    *cap = n;
    return 1;
}

static int parse_array(parser *p, json_value *out, int depth)
{
    size_t cap = 0;
    out->type = JSON_ARRAY;
    p->pos++;
    skip_space(p);
    if (p->text[p->pos] == ']') {
        p->pos++;
        return 1;
    }
    for (;;) {
        if (!grow(p, out, &cap, 0)) {
            return 0;
        }
        /* Counted before parsing, so a failure frees the partial item too. */
        out->count++;
        if (!parse_value(p, &out->items[out->count - 1], depth + 1)) {
            return 0;
        }
        skip_space(p);
        if (p->text[p->pos] == ',') {
            p->pos++;
        } else if (p->text[p->pos] == ']') {
            p->pos++;
            return 1;
        } else {
            fail(p, "expected ',' or ']'");
            return 0;
        }
    }
}

static int parse_object(parser *p, json_value *out, int depth)
{
    size_t cap = 0;
    out->type = JSON_OBJECT;
    p->pos++;
    skip_space(p);
    if (p->text[p->pos] == '}') {
        p->pos++;
        return 1;
    }
    for (;;) {
        char *key;
        skip_space(p);
        if (p->text[p->pos] != '"') {
            fail(p, "expected a key");
            return 0;
        }
        if (!grow(p, out, &cap, 1)) {
            return 0;
        }
        key = parse_string(p);
        if (key == NULL) {
            return 0;
        }
        skip_space(p);
        if (p->text[p->pos] != ':') {
            free(key);
            fail(p, "expected ':'");
            return 0;
        }
        p->pos++;
        out->keys[out->count] = key;
        out->count++;
        if (!parse_value(p, &out->items[out->count - 1], depth + 1)) {
            return 0;
        }
        skip_space(p);
        if (p->text[p->pos] == ',') {
            p->pos++;
        } else if (p->text[p->pos] == '}') {
            p->pos++;
            return 1;
        } else {
            fail(p, "expected ',' or '}'");
            return 0;
        }
    }
}

static int literal(parser *p, const char *word, json_type type, json_value *out)
{
    size_t n = strlen(word);
    if (strncmp(p->text + p->pos, word, n) != 0) {
        fail(p, "unexpected character");
        return 0;
    }
    p->pos += n;
    out->type = type;
    return 1;
}

static int parse_value(parser *p, json_value *out, int depth)
{
    char c;
    memset(out, 0, sizeof *out);
    if (depth > 64) {
        fail(p, "nesting too deep");
        return 0;
    }
    skip_space(p);
    c = p->text[p->pos];
    if (c == '{') {
        return parse_object(p, out, depth);
    }
    if (c == '[') {
        return parse_array(p, out, depth);
    }
    if (c == '"') {
        out->type = JSON_STRING;
        out->string = parse_string(p);
        return out->string != NULL;
    }
    if (c == 't') {
        return literal(p, "true", JSON_TRUE, out);
    }
    if (c == 'f') {
        return literal(p, "false", JSON_FALSE, out);
    }
    if (c == 'n') {
        return literal(p, "null", JSON_NULL, out);
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        char *end;
        out->type = JSON_NUMBER;
        out->number = strtod(p->text + p->pos, &end);
        p->pos = (size_t)(end - p->text);
        return 1;
    }
    fail(p, c == '\0' ? "unexpected end of input" : "unexpected character");
    return 0;
}

static void free_children(json_value *v)
{
    size_t i;
    if (v->type == JSON_ARRAY || v->type == JSON_OBJECT) {
        for (i = 0; i < v->count; i++) {
            free_children(&v->items[i]);
            if (v->type == JSON_OBJECT) {
                free(v->keys[i]);
            }
        }
        free(v->items);
        free(v->keys);
    }
    free(v->string);
}

json_value *json_parse(const char *text, char *error, size_t error_size)
{
    parser p;
    json_value *root = malloc(sizeof *root);
    p.text = text;
    p.pos = 0;
    p.error = error;
    p.error_size = error_size;
    p.failed = 0;
    if (root == NULL) {
        snprintf(error, error_size, "out of memory");
        return NULL;
    }
    if (parse_value(&p, root, 0)) {
        skip_space(&p);
        if (p.text[p.pos] != '\0') {
            fail(&p, "trailing characters");
        }
    }
    if (p.failed) {
        free_children(root);
        free(root);
        return NULL;
    }
    return root;
}

void json_free(json_value *value)
{
    if (value != NULL) {
        free_children(value);
        free(value);
    }
}

const json_value *json_get(const json_value *object, const char *key)
{
    size_t i;
    if (object == NULL || object->type != JSON_OBJECT) {
        return NULL;
    }
    for (i = 0; i < object->count; i++) {
        if (strcmp(object->keys[i], key) == 0) {
            return &object->items[i];
        }
    }
    return NULL;
}

char *json_read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0, cap = 0, got;
    if (f == NULL) {
        return NULL;
    }
    do {
        if (cap - len < 65536) {
            char *bigger;
            cap = cap == 0 ? 1 << 20 : cap * 2;
            bigger = realloc(buf, cap + 1);
            if (bigger == NULL) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = bigger;
        }
        got = fread(buf + len, 1, cap - len, f);
        len += got;
    } while (got > 0);
    fclose(f);
    buf[len] = '\0';
    return buf;
}
