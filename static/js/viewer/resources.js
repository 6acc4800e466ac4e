/* Loading what the viewer shows: server renders (JPEG previews, decoded into
 * Images) and raw modality values (for windowing here), each in a
 * ResourceCache, under one scheduler.
 *
 * The entry module (main.js) tells the scheduler what a settled load does.
 */

import { fetchWithRetry } from './http.js';
import { ResourceCache, Scheduler } from './resource-cache.js';
import { LITTLE_ENDIAN, RAW_TYPES, VOI_FUNCTIONS } from './windowing.js';

const MAX_PREFETCH = 4;         // concurrent background requests

function waitForImage(img) {
  return new Promise((resolve, reject) => {
    img.onload = () => resolve();
    img.onerror = () => reject(new Error('the image could not be decoded'));
  });
}

/** The first image the page carries (templates/exams/viewer.html), when it is the render at `url`. */
async function pageImage(url) {
  const img = document.querySelector('img.viewer-first');
  if (!img || img.dataset.url !== url || !img.src.startsWith('data:')) return null;
  if (!img.complete) await waitForImage(img);
  if (!img.naturalWidth) return null;
  return { el: img, objectUrl: null, width: img.naturalWidth, height: img.naturalHeight, unavailable: false };
}

/** A server render: the page's own copy of it, or fetched (to see 503s), then decoded into an Image. */
async function loadPreview(url) {
  const carried = await pageImage(url).catch(() => null);
  if (carried) return carried;
  const response = await fetchWithRetry(url, 'image/*');
  const unavailable = response.headers.get('X-Render-Status') === 'unavailable';
  const blob = await response.blob();
  const objectUrl = URL.createObjectURL(blob);
  const img = new Image();
  const loaded = waitForImage(img);
  img.decoding = 'async';
  img.src = objectUrl;
  try {
    await loaded;
  } catch (error) {
    URL.revokeObjectURL(objectUrl);
    throw error;
  }
  if (typeof img.decode === 'function') {
    try { await img.decode(); } catch (ignored) { /* loaded already: drawImage decodes */ }
  }
  return { el: img, objectUrl, width: img.naturalWidth, height: img.naturalHeight, unavailable };
}

function disposePreview(value) {
  if (value && value.objectUrl) URL.revokeObjectURL(value.objectUrl);
}

/** Raw modality values of one frame: row-major, little-endian, described by headers. */
async function loadRaw(url, image) {
  const response = await fetchWithRetry(url, 'application/octet-stream');
  const rows = parseInt(response.headers.get('X-Rows') || '', 10) || image.rows;
  const columns = parseInt(response.headers.get('X-Columns') || '', 10) || image.columns;
  const dtype = (response.headers.get('X-Dtype') || 'int16').trim().toLowerCase();
  const invert = (response.headers.get('X-Invert') || '').trim() === '1';
  let voi = (response.headers.get('X-Voi-Function') || 'LINEAR').trim().toUpperCase().replace(/[-\s]/g, '_');
  if (VOI_FUNCTIONS.indexOf(voi) === -1) voi = 'LINEAR';
  const type = RAW_TYPES[dtype];
  if (!type) throw new Error('unsupported raw type ' + dtype);
  if (!(rows > 0 && columns > 0)) throw new Error('raw values without dimensions');
  const buffer = await response.arrayBuffer();
  const count = rows * columns;
  const size = type.Array.BYTES_PER_ELEMENT;
  if (buffer.byteLength < count * size) throw new Error('raw values shorter than rows x columns');
  let data;
  if (LITTLE_ENDIAN || size === 1) {
    data = new type.Array(buffer, 0, count);
  } else {
    data = new type.Array(count);
    const view = new DataView(buffer);
    for (let i = 0; i < count; i++) data[i] = view[type.getter](i * size, true);
  }
  return { data, rows, columns, dtype, invert, voi, range: null };
}

export const scheduler = new Scheduler(MAX_PREFETCH);
export const previews = new ResourceCache(scheduler, loadPreview, disposePreview);
export const raws = new ResourceCache(scheduler, loadRaw, null);
