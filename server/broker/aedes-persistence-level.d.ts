/** aedes-persistence-level ships no types; this is the part bootfleet uses (the async persistence aedes 1.x expects). */
declare module 'aedes-persistence-level/asyncPersistence.js' {
  export default class AsyncLevelPersistence {
    /** `db` is an abstract-level database or sublevel; values are stored as buffers. */
    constructor(db: unknown);
    setup(broker: unknown): Promise<void>;
    destroy(): Promise<void>;
  }
}
