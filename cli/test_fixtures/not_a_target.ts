// A module that loads but exports no conformance target.
export const answer = 42;
