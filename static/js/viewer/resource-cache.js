/* Caches of things fetched by key (the viewer's previews and raw values) and the
 * one scheduler they share.
 *
 * The frame on screen is fetched at once (priority NOW); neighbours wait in a
 * queue, nearest first, a few at a time, and are dropped from the queue when
 * the user has moved on. Each cache keeps its most recently used values up to
 * its limit, never evicting the one on screen (`pinned`).
 *
 * Pure: no DOM and no module state. A viewer makes one Scheduler, its caches,
 * and tells the scheduler what to do when a load settles (`onSettled`) and
 * when that goes wrong (`onError`).
 */

export const NOW = -1; // request priority: the frame on screen, never queued

export class Scheduler {
  constructor(maxActive) {
    this.queue = [];
    this.active = 0;
    this.maxActive = maxActive; // concurrent background requests
    this.useTick = 0;
    this.onSettled = () => {};
    this.onError = () => {};
  }

  /** A counter that orders uses, for least-recently-used eviction. */
  tick() {
    this.useTick += 1;
    return this.useTick;
  }

  pump() {
    this.queue.sort((a, b) => a.priority - b.priority);
    while (this.queue.length && (this.queue[0].priority < 0 || this.active < this.maxActive)) {
      this.start(this.queue.shift());
    }
  }

  start(entry) {
    entry.state = 'loading';
    this.active += 1;
    const cache = entry.cache;
    let promise;
    try {
      promise = Promise.resolve(cache.load(entry.key, entry.arg));
    } catch (error) {
      promise = Promise.reject(error);
    }
    promise
      .then(
        (value) => {
          if (cache.map.get(entry.key) !== entry) {
            if (cache.dispose) cache.dispose(value);
            return;
          }
          entry.state = 'ok';
          entry.value = value;
          entry.used = this.tick();
          cache.evict();
        },
        (error) => {
          entry.state = 'error';
          entry.error = error;
        }
      )
      .then(() => {
        this.active -= 1;
        this.pump();
        this.onSettled(entry);
      })
      .catch((error) => this.onError(error));
  }
}

export class ResourceCache {
  constructor(scheduler, load, dispose) {
    this.scheduler = scheduler;
    this.load = load;
    this.dispose = dispose || null;
    this.map = new Map();
    this.limit = 24;
    this.pinned = null; // the value on screen, never evicted
  }

  /** The loaded value, or null. */
  peek(key) {
    const entry = key ? this.map.get(key) : null;
    if (!entry || entry.state !== 'ok') return null;
    entry.used = this.scheduler.tick();
    return entry.value;
  }

  state(key) {
    const entry = key ? this.map.get(key) : null;
    return entry ? entry.state : null;
  }

  request(key, priority, arg) {
    if (!key) return;
    const entry = this.map.get(key);
    if (entry) {
      if (entry.state === 'ok') {
        entry.used = this.scheduler.tick();
      } else if (entry.state === 'queued' && priority < entry.priority) {
        entry.priority = priority;
        this.scheduler.pump();
      }
      return; // loading, queued or failed (failures are forgotten by prune)
    }
    const fresh = { key, arg, cache: this, state: 'queued', priority, value: null, error: null, used: this.scheduler.tick() };
    this.map.set(key, fresh);
    this.scheduler.queue.push(fresh);
    this.scheduler.pump();
  }

  /** Forget queued requests and failures that are no longer wanted. */
  prune(keep) {
    this.scheduler.queue = this.scheduler.queue.filter((entry) => {
      if (entry.cache !== this || entry.priority < 0 || keep.has(entry.key)) return true;
      this.map.delete(entry.key);
      return false;
    });
    for (const [key, entry] of this.map) {
      if (entry.state === 'error' && !keep.has(key)) this.map.delete(key);
    }
  }

  evict() {
    const loaded = [];
    for (const entry of this.map.values()) if (entry.state === 'ok') loaded.push(entry);
    if (loaded.length <= this.limit) return;
    loaded.sort((a, b) => a.used - b.used);
    let excess = loaded.length - this.limit;
    for (const entry of loaded) {
      if (excess <= 0) break;
      if (entry.value === this.pinned) continue;
      this.map.delete(entry.key);
      if (this.dispose) this.dispose(entry.value);
      excess -= 1;
    }
  }
}
