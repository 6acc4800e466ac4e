/* The manifest: the series' images in anatomical order (size, frames, window,
 * frame time, lossy, colour, pixel spacing, the URLs of their previews and raw values) and its
 * presets, read from the page's data-manifest-url; the caches sized to them.
 * When it cannot be read the viewer stops with a message (fatal).
 */

import { stopPlaying, setFps } from './cine.js';
import { resize } from './drawing.js';
import { fetchWithRetry } from './http.js';
import { buildPresetBar } from './hud.js';
import { spacingFrom } from './measure.js';
import { setLoading, setMessage } from './messages.js';
import { defaultFps } from './navigation.js';
import { clamp, toNumber } from './numbers.js';
import { loadingNote, root, t } from './page.js';
import { PREFETCH_RADIUS, render } from './render-loop.js';
import { previews, raws } from './resources.js';
import { presetNamed, state } from './state.js';

/** Stop for good, saying why. */
export function fatal(text) {
  state.fatal = true;
  stopPlaying();
  setLoading(false);
  setMessage(text);
}

function normaliseImage(raw) {
  if (!raw || typeof raw.preview !== 'string' || !raw.preview) return null;
  const windowPair = Array.isArray(raw.window) && raw.window.length >= 2
    ? [toNumber(raw.window[0]), toNumber(raw.window[1])]
    : null;
  const frameTime = toNumber(raw.frame_time_ms);
  return {
    id: raw.id,
    number: raw.number,
    frames: Math.max(1, parseInt(raw.frames, 10) || 1),
    rows: Math.max(0, parseInt(raw.rows, 10) || 0),
    columns: Math.max(0, parseInt(raw.columns, 10) || 0),
    lossy: raw.lossy === true,
    window: windowPair && windowPair[0] !== null && windowPair[1] !== null ? windowPair : null,
    frameTimeMs: frameTime && frameTime > 0 ? frameTime : null,
    colour: raw.colour === true,
    preview: raw.preview,
    raw: typeof raw.raw === 'string' && raw.raw ? raw.raw : null,
    pixelSpacing: spacingFrom(raw.pixel_spacing), // in the patient; none: the ruler measures pixels
  };
}

function normalisePreset(raw) {
  if (!raw || typeof raw.name !== 'string' || !raw.name || raw.name === 'custom') return null;
  const center = toNumber(raw.center);
  const width = toNumber(raw.width);
  const known = center !== null && width !== null;
  return { name: raw.name, label: String(raw.label || raw.name), center: known ? center : null, width: known ? width : null };
}

/** The manifest the page carries for its series (a JSON script element, never run), or null. */
function embeddedManifest() {
  const element = document.getElementById('viewer-manifest');
  if (!element) return null;
  try {
    const manifest = JSON.parse(element.textContent);
    return manifest && manifest.series && String(manifest.series.id) === root.dataset.series ? manifest : null;
  } catch (error) {
    return null;
  }
}

export async function loadManifest() {
  const url = root.dataset.manifestUrl;
  if (!url) {
    fatal(t('manifestError'));
    return;
  }
  if (loadingNote) loadingNote.hidden = false;
  let manifest = embeddedManifest();
  if (!manifest) {
    try {
      const response = await fetchWithRetry(url, 'application/json');
      manifest = await response.json();
    } catch (error) {
      fatal(t('manifestError'));
      return;
    }
  }
  if (!manifest || !Array.isArray(manifest.images)) {
    fatal(t('manifestError'));
    return;
  }
  const images = manifest.images.map(normaliseImage).filter(Boolean);
  if (!images.length) {
    fatal(t('empty'));
    return;
  }
  state.series = manifest.series || null;
  state.images = images;
  state.presets = (Array.isArray(manifest.presets) ? manifest.presets : []).map(normalisePreset).filter(Boolean);
  state.preset = presetNamed('file') ? 'file' : state.presets.length ? state.presets[0].name : 'file';
  state.index = 0;
  state.frame = 0;

  // Decoded previews take rows x columns x 4 bytes (at most 2048 px a side): keep a budget.
  const biggest = images.reduce((most, image) => Math.max(most, Math.min(image.rows, 2048) * Math.min(image.columns, 2048)), 1);
  previews.limit = clamp(Math.floor(200e6 / (biggest * 4)), 2 * PREFETCH_RADIUS + 2, 80);
  const rawBiggest = images.reduce((most, image) => Math.max(most, image.rows * image.columns), 1);
  raws.limit = clamp(Math.floor(128e6 / (rawBiggest * 4)), 4, 2 * PREFETCH_RADIUS + 2);

  buildPresetBar();
  setFps(defaultFps(images[0]), false);
  state.ready = true;
  resize();
  render();
}
