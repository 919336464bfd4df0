#ifndef STREAMBUS_CTL_CTL_TABLE_H
#define STREAMBUS_CTL_CTL_TABLE_H

/* Column-aligned text tables for `streambus ctl` output meant for people: a header row,
 * columns padded to their widest cell and separated by two spaces, no trailing blanks. */

#include <stddef.h>
#include <stdio.h>

typedef struct ctl_table ctl_table_t;

/* headers: column_count strings, copied. Returns NULL when out of memory. */
ctl_table_t *ctl_table_new(size_t column_count, const char *const *headers);
void ctl_table_free(ctl_table_t *table);

/* Appends a row of column_count cells (copied; NULL prints as "-"). 0 or SB_ENOMEM. */
int ctl_table_add_row(ctl_table_t *table, const char *const *cells);

size_t ctl_table_row_count(const ctl_table_t *table);

void ctl_table_print(const ctl_table_t *table, FILE *out);

#endif
