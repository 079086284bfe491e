// UTF-8 TextDecoder and TextEncoder for AudioWorkletGlobalScope, which lacks both while
// wasm-bindgen's glue creates one of each when it loads. Imported by worklet.js before the
// glue; a scope that has them keeps its own.

class Utf8Decoder {
  constructor() {}
  decode(bytes) {
    if (bytes === undefined) return '';
    const b = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes.buffer ?? bytes);
    let out = '';
    let i = 0;
    while (i < b.length) {
      const c = b[i++];
      let cp;
      if (c < 0x80) {
        cp = c;
      } else if (c < 0xe0) {
        cp = ((c & 0x1f) << 6) | (b[i++] & 0x3f);
      } else if (c < 0xf0) {
        cp = ((c & 0x0f) << 12) | ((b[i++] & 0x3f) << 6) | (b[i++] & 0x3f);
      } else {
        cp = ((c & 0x07) << 18) | ((b[i++] & 0x3f) << 12) | ((b[i++] & 0x3f) << 6) | (b[i++] & 0x3f);
      }
      out += String.fromCodePoint(cp);
    }
    return out;
  }
}

class Utf8Encoder {
  constructor() {
    this.encoding = 'utf-8';
  }
  encode(text = '') {
    const out = new Uint8Array(text.length * 3);
    const { written } = this.encodeInto(text, out);
    return out.slice(0, written);
  }
  encodeInto(text, dest) {
    let read = 0;
    let written = 0;
    for (const ch of text) {
      const cp = ch.codePointAt(0);
      const size = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
      if (written + size > dest.length) break;
      if (size === 1) {
        dest[written++] = cp;
      } else if (size === 2) {
        dest[written++] = 0xc0 | (cp >> 6);
        dest[written++] = 0x80 | (cp & 0x3f);
      } else if (size === 3) {
        dest[written++] = 0xe0 | (cp >> 12);
        dest[written++] = 0x80 | ((cp >> 6) & 0x3f);
        dest[written++] = 0x80 | (cp & 0x3f);
      } else {
        dest[written++] = 0xf0 | (cp >> 18);
        dest[written++] = 0x80 | ((cp >> 12) & 0x3f);
        dest[written++] = 0x80 | ((cp >> 6) & 0x3f);
        dest[written++] = 0x80 | (cp & 0x3f);
      }
      read += ch.length;
    }
    return { read, written };
  }
}

if (typeof globalThis.TextDecoder === 'undefined') globalThis.TextDecoder = Utf8Decoder;
if (typeof globalThis.TextEncoder === 'undefined') globalThis.TextEncoder = Utf8Encoder;
