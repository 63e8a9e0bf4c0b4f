/* A small JSON reader (RFC 8259) for the C test program: parses a whole document into a tree. */
#ifndef RRT_JSON_H
#define RRT_JSON_H

#include <stddef.h>

typedef enum { JSON_NULL, JSON_FALSE, JSON_TRUE, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } json_type;

typedef struct json_value json_value;

struct json_value {
    json_type type;
    double number;     /* JSON_NUMBER */
    char *string;      /* JSON_STRING: UTF-8, NUL-terminated */
    size_t count;      /* JSON_ARRAY, JSON_OBJECT: number of items */
    json_value *items; /* JSON_ARRAY, JSON_OBJECT: the values */
    char **keys;       /* JSON_OBJECT: the keys, parallel to items */
};

/* Parses `text`; on failure returns NULL and writes a message (with the byte offset) to `error`. */
json_value *json_parse(const char *text, char *error, size_t error_size);

/* Frees a tree returned by json_parse. */
void json_free(json_value *value);

/* The member `key` of an object, or NULL (also when `object` is not an object). */
const json_value *json_get(const json_value *object, const char *key);

/* Reads a whole file into a NUL-terminated buffer (free it with free), or NULL. */
char *json_read_file(const char *path);

#endif /* RRT_JSON_H */
