/** Only composition roots read the wall clock (through one of these); everything below takes `now: Date`, so any run replays. */
export type Clock = () => Date;
