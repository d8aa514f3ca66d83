/** Only composition roots read the wall clock (through one of these); everything below takes `now: Date`, so any run replays. */
export type Clock = () => Date;

/** The wall clock: the default of every composition root; tests pass a fixed one. */
export const systemClock: Clock = () => new Date();
