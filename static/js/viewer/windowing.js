/* Windowing in the browser: a frame's modality values to display greys, by the
 * formulas of imaging/rendering/pipeline.py (PS3.3 C.11.2.1.2 VOI LUT Functions LINEAR,
 * LINEAR_EXACT and SIGMOID; MONOCHROME1 inverted; with no window, the frame's
 * min-max), so that a dragged window answers at once and looks as the server's
 * render of it would: tests/test_viewer_windowing.py holds the greys of these
 * functions, in Chromium, equal to the server's.
 *
 * Pure: no DOM, no state but a few recent lookup tables, which change no
 * result. The raw values come from /my/images/<id>/raw (modality values, as
 * described by its X-Dtype, X-Voi-Function and X-Invert headers).
 */

/** The machine's byte order: for packing pixels, and for reading little-endian values. */
export const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The value types a raw frame may have; 8 and 16-bit ones are windowed through a table over every value. */
export const RAW_TYPES = {
  int16: { Array: Int16Array, getter: 'getInt16', lut: { size: 65536, offset: 32768 } },
  uint16: { Array: Uint16Array, getter: 'getUint16', lut: { size: 65536, offset: 0 } },
  int8: { Array: Int8Array, getter: 'getInt8', lut: { size: 256, offset: 128 } },
  uint8: { Array: Uint8Array, getter: 'getUint8', lut: { size: 256, offset: 0 } },
  int32: { Array: Int32Array, getter: 'getInt32', lut: null },
  uint32: { Array: Uint32Array, getter: 'getUint32', lut: null },
  float32: { Array: Float32Array, getter: 'getFloat32', lut: null },
  float64: { Array: Float64Array, getter: 'getFloat64', lut: null },
};
export const VOI_FUNCTIONS = ['LINEAR', 'LINEAR_EXACT', 'SIGMOID'];

/** One modality value to an output value 0..255, unrounded. */
export function voiValue(x, center, width, fn) {
  if (fn === 'SIGMOID') return 255 / (1 + Math.exp((-4 * (x - center)) / width));
  if (fn === 'LINEAR_EXACT') {
    if (x <= center - width / 2) return 0;
    if (x > center + width / 2) return 255;
    return ((x - center) / width + 0.5) * 255;
  }
  if (width <= 1) return x <= center - 0.5 ? 0 : 255; // C.11.2.1.2.1: a threshold
  if (x <= center - 0.5 - (width - 1) / 2) return 0;
  if (x > center - 0.5 + (width - 1) / 2) return 255;
  return ((x - (center - 0.5)) / (width - 1) + 0.5) * 255;
}

/** One modality value to its display grey 0..255: windowed, rounded, inverted for MONOCHROME1. */
export function displayValue(x, center, width, fn, invert) {
  let v = Math.floor(voiValue(x, center, width, fn) + 0.5); // round to nearest
  if (!(v >= 0)) v = 0; // also NaN
  if (v > 255) v = 255;
  return invert ? 255 - v : v;
}

const packGrey = LITTLE_ENDIAN
  ? (v) => (0xff000000 | (v << 16) | (v << 8) | v) >>> 0
  : (v) => ((v << 24) | (v << 16) | (v << 8) | 0xff) >>> 0;
/** Each grey as one opaque RGBA pixel, as a Uint32 of ImageData's bytes. */
export const GREY = new Uint32Array(256);
for (let v = 0; v < 256; v++) GREY[v] = packGrey(v);

const lutCache = new Map();

/** For integer values: a table over every value, as packed RGBA (from a Uint8Array of greys). */
export function windowTable(lut, center, width, fn, invert) {
  const key = lut.size + ':' + lut.offset + ':' + center + ':' + width + ':' + fn + ':' + invert;
  let table = lutCache.get(key);
  if (table) {
    lutCache.delete(key);
    lutCache.set(key, table);
    return table;
  }
  const grey = new Uint8Array(lut.size);
  for (let i = 0; i < lut.size; i++) grey[i] = displayValue(i - lut.offset, center, width, fn, invert);
  table = new Uint32Array(lut.size);
  for (let i = 0; i < lut.size; i++) table[i] = GREY[grey[i]];
  lutCache.set(key, table);
  while (lutCache.size > 6) lutCache.delete(lutCache.keys().next().value);
  return table;
}

/** The min-max window the server uses when a file has none (imaging.rendering's, after DCMTK's). */
export function rangeWindow(raw) {
  if (!raw.range) {
    let low = Infinity;
    let high = -Infinity;
    const data = raw.data;
    for (let i = 0; i < data.length; i++) {
      const v = data[i];
      if (v < low) low = v;
      if (v > high) high = v;
    }
    if (!(low <= high)) { low = 0; high = 255; }
    raw.range = { low, high };
  }
  const { low, high } = raw.range;
  // Unrounded: a window rounded to tenths (as dragged windows are) moves the ramp off the server's.
  return { center: (low + high) / 2 + 0.5, width: Math.max(high - low + 1, 1) };
}

/** A raw frame ({data, dtype, voi, invert}) at a window, into `out`: one packed RGBA pixel (GREY) a value. */
export function windowInto(out, raw, center, width) {
  const data = raw.data;
  const n = out.length;
  const lut = RAW_TYPES[raw.dtype].lut;
  if (lut) {
    const table = windowTable(lut, center, width, raw.voi, raw.invert);
    const offset = lut.offset;
    for (let i = 0; i < n; i++) out[i] = table[data[i] + offset];
  } else {
    const fn = raw.voi;
    const invert = raw.invert;
    for (let i = 0; i < n; i++) out[i] = GREY[displayValue(data[i], center, width, fn, invert)];
  }
}
