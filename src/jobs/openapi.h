#ifndef STREAMBUS_JOBS_OPENAPI_H
#define STREAMBUS_JOBS_OPENAPI_H

/* The jobs API's OpenAPI 3.0 document (JSON text, NUL-terminated). */
extern const char JOBS_OPENAPI_JSON[];

#endif
