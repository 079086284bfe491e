// A single-producer single-consumer ring of feature frames in a SharedArrayBuffer: the
// worklet writes the frames it computes, the Worker reads them. The writer never waits: what
// does not fit is dropped and counted. The header also carries the worklet's counters, so
// the page reads them without a message from the audio thread.

/** Header slots (Int32). */
export const H = {
  WRITE: 0, // frames written, ever (wraps at 2^32; differences stay right)
  READ: 1, // frames read, ever
  DROPPED: 2, // frames dropped because the ring was full
  QUANTA: 3, // render quanta the worklet processed
  LATE: 4, // quanta whose processing took 3 ms or more (Date.now() resolution: 1 ms)
  MAX_MS: 5, // the longest quantum, in whole ms
  REJECTED: 6, // quanta rejected (a NaN or infinite sample)
  STOP: 7, // set to 1 to end the Worker's read loop
};
const HEADER = 8;

/** Allocates the shared memory of a ring of `capacity` frames of `width` values. */
export function createRing(capacity, width) {
  const sab = new SharedArrayBuffer(HEADER * 4 + capacity * width * 4);
  return { sab, capacity, width };
}

/** One side's view of a ring made by `createRing`. */
export class FrameRing {
  constructor({ sab, capacity, width }) {
    this.header = new Int32Array(sab, 0, HEADER);
    this.data = new Float32Array(sab, HEADER * 4, capacity * width);
    this.capacity = capacity;
    this.width = width;
  }

  /** Writer: copies `count` frames from `src` (a Float32Array); returns the frames dropped.
   * Allocates nothing (it runs on the audio thread). */
  write(src, count) {
    const h = this.header;
    const w = Atomics.load(h, H.WRITE);
    const r = Atomics.load(h, H.READ);
    const free = this.capacity - ((w - r) >>> 0);
    const n = Math.min(count, free);
    const width = this.width;
    const data = this.data;
    // Element by element: subarray() would create objects on the audio thread.
    for (let i = 0; i < n; i++) {
      const at = (((w + i) >>> 0) % this.capacity) * width;
      const from = i * width;
      for (let k = 0; k < width; k++) data[at + k] = src[from + k];
    }
    if (n > 0) {
      Atomics.store(h, H.WRITE, (w + n) | 0);
      Atomics.notify(h, H.WRITE);
    }
    const dropped = count - n;
    if (dropped > 0) Atomics.add(h, H.DROPPED, dropped);
    return dropped;
  }

  /** Reader: frames waiting. */
  available() {
    return (Atomics.load(this.header, H.WRITE) - Atomics.load(this.header, H.READ)) >>> 0;
  }

  /** Reader: moves up to `maxFrames` waiting frames into `dest`; returns how many. */
  read(dest, maxFrames) {
    const h = this.header;
    const r = Atomics.load(h, H.READ);
    const n = Math.min(this.available(), maxFrames);
    for (let i = 0; i < n; i++) {
      const slot = ((r + i) >>> 0) % this.capacity;
      dest.set(this.data.subarray(slot * this.width, (slot + 1) * this.width), i * this.width);
    }
    Atomics.store(h, H.READ, (r + n) | 0);
    return n;
  }
}
