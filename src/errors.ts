// lowbit's one error type: a single line naming the file, the tensor, what was expected and what was found.
//
// Validation happens at the edges (checkpoint reader, exporter, CLI); every failure a user can cause
// becomes a LowbitError, which the CLI prints as one line and turns into a non-zero exit.

export interface ErrorWhere {
  file?: string;
  tensor?: string;
  expected?: string;
  found?: string;
  hint?: string;
}

export class LowbitError extends Error {
  readonly where: ErrorWhere;

  constructor(problem: string, where: ErrorWhere = {}) {
    super(formatMessage(problem, where));
    this.name = "LowbitError";
    this.where = where;
  }
}

function formatMessage(problem: string, where: ErrorWhere): string {
  const parts: string[] = [];
  if (where.file !== undefined) parts.push(where.file);
  if (where.tensor !== undefined) parts.push(`tensor ${where.tensor}`);
  let line = parts.length > 0 ? `${parts.join(": ")}: ${problem}` : problem;
  if (where.expected !== undefined) line += `; expected ${where.expected}`;
  if (where.found !== undefined) line += `, found ${where.found}`;
  if (where.hint !== undefined) line += ` (${where.hint})`;
  return line.replace(/\s*\n\s*/g, " ");
}
