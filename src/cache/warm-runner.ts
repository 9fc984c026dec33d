/** Stops one task a {@link WarmRunner} runs. */
export interface WarmTask {
  stop(): void | Promise<void>;
}

/**
 * Runs warm rounds somewhere other than a timer in each process: a worker of the jobs
 * tier (`ScheduledRounds` of `scaleout/jobs` fits), so that one process of the
 * deployment runs each round. Every instance registers the same rounds (same names);
 * whichever process a tick lands on runs its own copy.
 */
export interface WarmRunner {
  /** Run `round` about every `intervalMs`, once per tick across the deployment. */
  every(name: string, intervalMs: number, round: () => Promise<void>): WarmTask;
}
