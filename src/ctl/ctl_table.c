#include "ctl/ctl_table.h"

#include <stdlib.h>
#include <string.h>

#include "common/err.h"

struct ctl_table {
    size_t column_count;
    size_t row_count; /* including the header row */
    size_t row_capacity;
    char **cells; /* row-major, row_count * column_count */
};

static int append_row(ctl_table_t *table, const char *const *cells)
{
    if (table->row_count == table->row_capacity) {
        size_t capacity = table->row_capacity ? table->row_capacity * 2 : 8;
        char **grown = realloc(table->cells, capacity * table->column_count * sizeof(*grown));
        if (!grown) return SB_ENOMEM;
        table->cells = grown;
        table->row_capacity = capacity;
    }
    char **row = table->cells + table->row_count * table->column_count;
    for (size_t c = 0; c < table->column_count; c++) {
        row[c] = strdup(cells[c] ? cells[c] : "-");
        if (!row[c]) {
            while (c > 0) free(row[--c]);
            return SB_ENOMEM;
        }
    }
    table->row_count++;
    return 0;
}

ctl_table_t *ctl_table_new(size_t column_count, const char *const *headers)
{
    ctl_table_t *table = calloc(1, sizeof(*table));
    if (!table) return NULL;
    table->column_count = column_count;
    if (append_row(table, headers) != 0) {
        ctl_table_free(table);
        return NULL;
    }
    return table;
}

void ctl_table_free(ctl_table_t *table)
{
    if (!table) return;
    for (size_t i = 0; i < table->row_count * table->column_count; i++) free(table->cells[i]);
    free(table->cells);
    free(table);
}

int ctl_table_add_row(ctl_table_t *table, const char *const *cells)
{
    return append_row(table, cells);
}

size_t ctl_table_row_count(const ctl_table_t *table)
{
    return table->row_count - 1;
}

void ctl_table_print(const ctl_table_t *table, FILE *out)
{
    size_t *widths = calloc(table->column_count, sizeof(*widths));
    if (!widths) return;
    for (size_t r = 0; r < table->row_count; r++)
        for (size_t c = 0; c < table->column_count; c++) {
            size_t len = strlen(table->cells[r * table->column_count + c]);
            if (len > widths[c]) widths[c] = len;
        }
    for (size_t r = 0; r < table->row_count; r++) {
        for (size_t c = 0; c < table->column_count; c++) {
            const char *cell = table->cells[r * table->column_count + c];
            if (c + 1 == table->column_count) fputs(cell, out);
            else fprintf(out, "%-*s  ", (int)widths[c], cell);
        }
        fputc('\n', out);
    }
    free(widths);
}
