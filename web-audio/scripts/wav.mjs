// WAV files for the scripts and tests: where a file's format and samples are (any RIFF/WAVE),
// and mono files written with the canonical 44-byte header, 16-bit PCM or 32-bit float samples.

/**
 * The `fmt ` chunk (`{tag, channels, rate, blockAlign, bits}`; `tag` 1 PCM, 3 float, 0xFFFE
 * extensible) and where the samples are (`dataAt`, `dataSize`: the bytes present, however
 * long the header says the chunk is) of a RIFF/WAVE file's bytes.
 */
export function wavLayout(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tag = (at) => String.fromCharCode(...bytes.subarray(at, at + 4));
  if (bytes.length < 12 || tag(0) !== 'RIFF' || tag(8) !== 'WAVE') throw new Error('not a RIFF/WAVE file');
  let fmt = null;
  for (let at = 12; at + 8 <= bytes.length; ) {
    const id = tag(at);
    const size = view.getUint32(at + 4, true);
    if (id === 'fmt ') {
      fmt = {
        tag: view.getUint16(at + 8, true),
        channels: view.getUint16(at + 10, true),
        rate: view.getUint32(at + 12, true),
        blockAlign: view.getUint16(at + 20, true),
        bits: view.getUint16(at + 22, true),
      };
    } else if (id === 'data') {
      if (!fmt) throw new Error('data chunk before fmt chunk');
      return { fmt, dataAt: at + 8, dataSize: Math.min(size, bytes.length - at - 8) };
    }
    at += 8 + size + (size % 2);
  }
  throw new Error('no data chunk');
}

/** A mono WAV buffer for `frames` samples of `bits` bits in format `tag` (1: PCM, 3: float),
 * the header written and the samples left to the caller from byte 44. */
function wavBuffer(frames, rate, tag, bits) {
  const bytes = bits / 8;
  const out = Buffer.alloc(44 + frames * bytes);
  out.write('RIFF', 0, 'latin1');
  out.writeUInt32LE(36 + frames * bytes, 4);
  out.write('WAVEfmt ', 8, 'latin1');
  out.writeUInt32LE(16, 16);
  out.writeUInt16LE(tag, 20);
  out.writeUInt16LE(1, 22);
  out.writeUInt32LE(rate, 24);
  out.writeUInt32LE(rate * bytes, 28);
  out.writeUInt16LE(bytes, 32);
  out.writeUInt16LE(bits, 34);
  out.write('data', 36, 'latin1');
  out.writeUInt32LE(frames * bytes, 40);
  return out;
}

/** A 16-bit PCM mono WAV of `samples` (floats in -1..1, clipped). */
export function pcm16Wav(samples, rate) {
  const out = wavBuffer(samples.length, rate, 1, 16);
  for (let i = 0; i < samples.length; i++) {
    out.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round(samples[i] * 32768))), 44 + 2 * i);
  }
  return out;
}

/** A 32-bit float (WAVE_FORMAT_IEEE_FLOAT) mono WAV of `samples`, bit for bit. */
export function floatWav(samples, rate) {
  const out = wavBuffer(samples.length, rate, 3, 32);
  Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength).copy(out, 44);
  return out;
}
