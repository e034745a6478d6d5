/**
 * Virtual time for the mocked host: a clock that only moves when a test says so, and a task
 * queue run in (deadline, insertion) order. Running a task first sets the clock to its
 * deadline, so every event a task reports carries the instant it was due.
 */
import { type Instant, instant } from "../../effects/instant.ts"

export interface VirtualTask {
  readonly at: number
  readonly seq: number
  readonly run: () => void
  cancelled: boolean
}

export class VirtualScheduler {
  private current: number
  private seq = 0
  private tasks: Array<VirtualTask> = []

  constructor(start = 0) {
    this.current = start
  }

  get now(): Instant {
    return instant(this.current)
  }

  /** Run `run` at `at` (or now, if `at` is in the past). */
  schedule(at: number, run: () => void): VirtualTask {
    const task: VirtualTask = { at: Math.max(at, this.current), seq: this.seq++, run, cancelled: false }
    // Binary search for the first task due strictly later: equal deadlines keep insertion order.
    let lo = 0
    let hi = this.tasks.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.tasks[mid]!.at <= task.at) lo = mid + 1
      else hi = mid
    }
    this.tasks.splice(lo, 0, task)
    return task
  }

  cancel(task: VirtualTask): void {
    task.cancelled = true
  }

  /** The deadline of the next live task, if any. */
  nextDeadline(): Instant | undefined {
    const t = this.tasks.find((x) => !x.cancelled)
    return t === undefined ? undefined : instant(t.at)
  }

  /** Run every task due at or before `target` (including ones they schedule), then set the clock to `target`. */
  advanceTo(target: number): void {
    if (target < this.current) target = this.current
    for (;;) {
      const task = this.tasks[0]
      if (task === undefined || task.at > target) break
      this.tasks.shift()
      if (task.cancelled) continue
      this.current = task.at
      task.run()
    }
    this.current = target
  }
}
