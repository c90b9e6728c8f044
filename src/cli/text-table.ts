/**
 * Text for people: columns padded to their widest cell, headers in capitals,
 * as kubectl and docker print lists. Cells are made one line (a newline in a
 * bot name must not break the table) and long ones cut with an ellipsis so
 * a row fits a terminal; --json has the full values.
 */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[], maxCell = 48): string {
  const cells = [headers.map((h) => h.toUpperCase()), ...rows.map((row) => row.map((cell) => oneLine(cell, maxCell)))];
  const widths = headers.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? "").length)));
  return cells.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] as number))).join("  ").trimEnd()).join("\n") + "\n";
}

/** "key: value" lines with the keys aligned, for one record. */
export function formatFields(fields: readonly (readonly [string, string])[], maxValue = 200): string {
  const width = Math.max(0, ...fields.map(([key]) => key.length + 1));
  return fields.map(([key, value]) => `${`${key}:`.padEnd(width)} ${oneLine(value, maxValue)}`.trimEnd()).join("\n") + "\n";
}

export function oneLine(text: string, max: number): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`;
}
