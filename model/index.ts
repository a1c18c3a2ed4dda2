// The formal model of CP-synchronous mirroring: statechart, events, abstract data, lockstep stepping,
// refinement mapping, properties, generated paths and their coverage. One import for the harness.

export * from './abstract_data.ts';
export * from './chart_text.ts';
export * from './coverage.ts';
export * from './events.ts';
export * from './inventory.ts';
export * from './lockstep.ts';
export * from './paths.ts';
export * from './properties.ts';
export * from './refinement.ts';
export * from './statechart.ts';
