"""Writes src/jobs/openapi.c (the jobs API's OpenAPI document as a C string) from the
document below. Run from the repository root after changing it: python3 src/jobs/openapi_gen.py"""
import json
ref = lambda n: {"$ref": "#/components/schemas/%s" % n}
err = {"description": "error", "content": {"application/json": {"schema": ref("Error")}}}
def resp(code, desc, schema=None):
    r = {"description": desc}
    if schema: r["content"] = {"application/json": {"schema": schema}}
    return r
def body(schema):
    return {"required": True, "content": {"application/json": {"schema": schema}}}
idp = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
sec = [{"bearer": []}]
doc = {
 "openapi": "3.0.3",
 "info": {"title": "StreamBus jobs", "version": "1",
          "description": "Durable job orchestration (docs/jobs.md). Roles: viewer < operator < admin."},
 "servers": [{"url": "/api/v1"}],
 "components": {
  "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
  "schemas": {
   "Error": {"type": "object", "properties": {"error": {"type": "string"}, "error_code": {"type": "integer"},
             "message": {"type": "string"}, "fields": {"type": "array", "items": {"type": "object", "properties": {
             "field": {"type": "string"}, "message": {"type": "string"}}}}}},
   "Tokens": {"type": "object", "properties": {"accessToken": {"type": "string"}, "refreshToken": {"type": "string"},
              "tokenType": {"type": "string"}, "expiresIn": {"type": "integer"}, "role": {"type": "string"}}},
   "JobSubmit": {"type": "object", "required": ["name", "type"], "additionalProperties": False, "properties": {
     "name": {"type": "string", "maxLength": 127},
     "type": {"type": "string", "enum": ["HTTP", "SQL", "SHELL", "EMAIL", "PIPELINE", "NOOP"]},
     "payload": {"type": "object", "description": "per type: see docs/jobs.md#executors; required except for NOOP"},
     "priority": {"type": "integer", "minimum": 0, "maximum": 10, "default": 5},
     "maxRetries": {"type": "integer", "minimum": 0, "maximum": 10, "default": 3},
     "timeoutSeconds": {"type": "integer", "minimum": 1, "maximum": 86400, "default": 300},
     "runAt": {"type": "string", "format": "date-time"},
     "idempotencyKey": {"type": "string", "maxLength": 127},
     "dependsOn": {"type": "array", "maxItems": 64, "items": {"type": "integer", "minimum": 1}},
     "queue": {"type": "string", "maxLength": 63, "default": "default"},
     "cron": {"type": "string", "description": "5-field cron expression: the job is a schedule"},
     "timeZone": {"type": "string", "default": "UTC", "description": "TZ database name, only with cron"}}},
   "Transition": {"type": "object", "properties": {"attempt": {"type": "integer"}, "from": {"type": "string", "nullable": True},
     "to": {"type": "string"}, "workerId": {"type": "string", "nullable": True}, "at": {"type": "string", "format": "date-time"},
     "error": {"type": "string", "nullable": True}}},
   "Job": {"type": "object", "properties": {
     "id": {"type": "integer"}, "name": {"type": "string"}, "type": {"type": "string"}, "queue": {"type": "string"},
     "payload": {"type": "object"}, "priority": {"type": "integer"}, "maxRetries": {"type": "integer"},
     "timeoutSeconds": {"type": "integer"}, "runAt": {"type": "string", "format": "date-time"},
     "status": {"type": "string", "enum": ["PENDING", "QUEUED", "RUNNING", "COMPLETED", "FAILED", "RETRYING", "DEAD_LETTER", "CANCELLED"]},
     "attempt": {"type": "integer"}, "idempotencyKey": {"type": "string", "nullable": True},
     "dependsOn": {"type": "array", "items": {"type": "integer"}}, "workerId": {"type": "string", "nullable": True},
     "leaseUntil": {"type": "string", "nullable": True}, "cancelRequested": {"type": "boolean"},
     "error": {"type": "string", "nullable": True}, "result": {"nullable": True},
     "cron": {"type": "string", "nullable": True}, "timeZone": {"type": "string", "nullable": True},
     "scheduleId": {"type": "integer", "nullable": True},
     "createdAt": {"type": "string"}, "updatedAt": {"type": "string"},
     "attempts": {"type": "array", "items": ref("Transition"), "description": "only in GET /jobs/{id}"}}},
   "LogEntry": {"type": "object", "properties": {"jobId": {"type": "integer"}, "attempt": {"type": "integer"},
     "status": {"type": "string", "enum": ["COMPLETED", "FAILED", "CANCELLED", "REFUSED", "LEASE_LOST"]},
     "workerId": {"type": "string"}, "type": {"type": "string"}, "queue": {"type": "string"},
     "error": {"type": "string", "nullable": True}, "output": {"type": "string", "nullable": True},
     "startedMs": {"type": "integer"}, "endedMs": {"type": "integer"}, "durationMs": {"type": "integer"}}},
   "LogPage": {"type": "object", "properties": {"logs": {"type": "array", "items": ref("LogEntry")}}},
   "JobPage": {"type": "object", "properties": {"jobs": {"type": "array", "items": ref("Job")},
     "nextCursor": {"type": "integer", "nullable": True}}},
  }},
 "paths": {
  "/auth/login": {"post": {"summary": "log in", "requestBody": body({"type": "object", "properties": {
     "username": {"type": "string"}, "password": {"type": "string"}}}),
     "responses": {"200": resp(200, "tokens", ref("Tokens")), "401": err}}},
  "/auth/refresh": {"post": {"summary": "a new token pair for a refresh token", "requestBody": body({"type": "object",
     "properties": {"refreshToken": {"type": "string"}}}), "responses": {"200": resp(200, "tokens", ref("Tokens")), "401": err}}},
  "/jobs": {
   "post": {"summary": "submit a job (operator)", "security": sec, "requestBody": body(ref("JobSubmit")),
            "responses": {"201": resp(201, "created", ref("Job")), "200": resp(200, "the job of this idempotencyKey", ref("Job")),
                          "400": err, "401": err, "403": err}},
   "get": {"summary": "list jobs (viewer)", "security": sec, "parameters": [
      {"name": n, "in": "query", "schema": {"type": t}} for n, t in
      (("status", "string"), ("type", "string"), ("queue", "string"), ("limit", "integer"), ("cursor", "integer"))],
      "responses": {"200": resp(200, "a page", ref("JobPage")), "400": err, "401": err}}},
  "/jobs/batch": {"post": {"summary": "submit up to 500 jobs; one bad job stores none (operator)", "security": sec,
     "requestBody": body({"type": "object", "properties": {"jobs": {"type": "array", "maxItems": 500, "items": ref("JobSubmit")}}}),
     "responses": {"201": resp(201, "created", {"type": "object", "properties": {"jobs": {"type": "array", "items": ref("Job")}}}),
                   "400": err, "401": err, "403": err}}},
  "/jobs/stats": {"get": {"summary": "counts by status, type, queue (viewer)", "security": sec,
     "responses": {"200": resp(200, "stats", {"type": "object"}), "401": err}}},
  "/jobs/{id}": {"get": {"summary": "a job with its transitions (viewer)", "security": sec, "parameters": [idp],
     "responses": {"200": resp(200, "the job", ref("Job")), "404": err, "401": err}}},
  "/jobs/{id}/cancel": {"post": {"summary": "cancel (operator); a running job is stopped by its worker", "security": sec,
     "parameters": [idp], "responses": {"200": resp(200, "the job", ref("Job")), "404": err, "409": err, "401": err, "403": err}}},
  "/jobs/{id}/retry": {"post": {"summary": "DEAD_LETTER or CANCELLED back to PENDING (operator)", "security": sec,
     "parameters": [idp], "responses": {"200": resp(200, "the job", ref("Job")), "404": err, "409": err, "401": err, "403": err}}},
  "/jobs/{id}/logs": {"get": {"summary": "the job's attempts from the job log in ClickHouse (viewer)", "security": sec,
     "parameters": [idp], "responses": {"200": resp(200, "log entries", ref("LogPage")), "401": err, "503": err}}},
  "/logs/search": {"post": {"summary": "search the job log (viewer)", "security": sec,
     "requestBody": body({"type": "object", "additionalProperties": False, "properties": {
        "jobId": {"type": "integer"}, "attempt": {"type": "integer"}, "status": {"type": "string"},
        "type": {"type": "string"}, "queue": {"type": "string"}, "workerId": {"type": "string"},
        "text": {"type": "string", "description": "case-insensitive substring of error or output"},
        "limit": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}}}),
     "responses": {"200": resp(200, "log entries, newest first", ref("LogPage")), "400": err, "401": err, "503": err}}},
  "/openapi.json": {"get": {"summary": "this document", "responses": {"200": resp(200, "OpenAPI 3.0")}}},
 }}
text = json.dumps(doc, separators=(",", ":"), sort_keys=False)
chunks = [text[i:i + 100] for i in range(0, len(text), 100)]
c = ['/* Generated by src/jobs/openapi_gen.py: edit that, not this. The OpenAPI 3.0 document of the',
     ' * jobs REST API, served at GET /api/v1/openapi.json. Keep it',
     ' * in step with api.c and docs/jobs.md: tests/integration/test_jobs.py checks that every route',
     ' * the API answers is in it and that JobSubmit lists exactly the fields the validator accepts. */',
     '#include "jobs/openapi.h"', '', 'const char JOBS_OPENAPI_JSON[] =']
for ch in chunks:
    c.append('    "%s"' % ch.replace('\\', '\\\\').replace('"', '\\"'))
c[-1] += ';'
open('src/jobs/openapi.c', 'w').write('\n'.join(c) + '\n')
print(len(text))
