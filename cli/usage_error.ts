// A user error of the command line (a bad option, an unreadable or damaged file, an unwritable folder):
// printed as one line, exit 2. Its message says what to change.

export class UsageError extends Error {
  override readonly name: string = 'UsageError';
}
