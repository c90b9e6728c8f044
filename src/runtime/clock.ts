/** Where time comes from. Tests inject a manual clock so expiry takes no real time. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** A clock that moves only when told to; for tests and simulations. */
export class ManualClock implements Clock {
  private ms: number;

  constructor(start: Date = new Date("2026-01-01T00:00:00Z")) {
    this.ms = start.getTime();
  }

  now(): Date {
    return new Date(this.ms);
  }

  advance(ms: number): void {
    this.ms += ms;
  }

  set(date: Date): void {
    this.ms = date.getTime();
  }
}
