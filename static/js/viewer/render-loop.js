/* The render loop: after every change, show the best pixels there are for the
 * current slice, frame and window, fetch what is missing, and prefetch the
 * neighbours the user is heading for (or the frames ahead while playing).
 *
 * A custom window prefers raw values windowed here (windowing.js), presets and
 * the file's window the server's renders; each stands in for the other while
 * it loads.
 */

import { clearShown, rawCanvas, showPreview, showRaw } from './drawing.js';
import { updateHud } from './hud.js';
import { loadingSoon, setLoading, setMessage } from './messages.js';
import { t } from './page.js';
import { NOW } from './resource-cache.js';
import { previews, raws } from './resources.js';
import { currentTarget, framesOf, overFrames, state, targetFor } from './state.js';

export const PREFETCH_RADIUS = 5;  // previews kept ready either side of the current slice
const CINE_AHEAD = 10;             // frames fetched ahead while playing
const JPEG_DEBOUNCE_MS = 150;      // server windowing while dragging without raw values

let debounceTimer = 0;

/** Show the best available pixels for the current slice and window; fetch what is missing. */
export function render() {
  if (!state.ready || state.fatal) {
    updateHud(null);
    return;
  }
  const target = currentTarget();
  updateHud(target);

  const preview = previews.peek(target.previewUrl);
  const raw = target.rawUsable ? raws.peek(target.rawUrl) : null;
  // A custom window prefers the raw values (exact, immediate); presets and the
  // file window prefer the server's render, using raw values only meanwhile.
  const order = target.custom ? [raw && 'raw', preview && 'jpeg'] : [preview && 'jpeg', raw && 'raw'];
  let drawn = false;
  for (const source of order) {
    if (source === 'jpeg') {
      showPreview(target, preview);
      drawn = true;
    } else if (source === 'raw') {
      drawn = showRaw(target, raw);
    }
    if (drawn) break;
  }

  if (target.custom && target.rawUsable && !raw) raws.request(target.rawUrl, NOW, target.image);
  // The probe reads the raw values of whatever image is on screen.
  if (state.mode === 'probe' && target.rawUrl && !target.image.colour) raws.request(target.rawUrl, NOW, target.image);
  if (debounceTimer) {
    clearTimeout(debounceTimer);
    debounceTimer = 0;
  }
  if (!preview && !(target.custom && raw)) {
    if (target.custom && state.windowDragging) {
      const url = target.previewUrl;
      debounceTimer = setTimeout(() => {
        debounceTimer = 0;
        previews.request(url, NOW);
      }, JPEG_DEBOUNCE_MS);
    } else {
      previews.request(target.previewUrl, NOW);
    }
  }

  if (drawn) {
    setLoading(false);
    setMessage(state.shown && state.shown.el !== rawCanvas && preview && preview.unavailable ? t('unavailable') : '');
  } else {
    const rawState = target.custom && target.rawUsable ? raws.state(target.rawUrl) : null;
    const rawPending = rawState === 'queued' || rawState === 'loading';
    if (previews.state(target.previewUrl) === 'error' && !rawPending) {
      setLoading(false);
      clearShown();
      setMessage(t('imageError'));
    } else {
      setMessage('');
      loadingSoon();
    }
  }
  prefetch(target);
}

function neighbours(center, count, direction) {
  const out = [];
  for (let distance = 1; distance <= PREFETCH_RADIUS; distance++) {
    for (const sign of [direction, -direction]) {
      const p = center + sign * distance;
      if (p >= 0 && p < count) out.push(p);
    }
  }
  return out;
}

function prefetch(target) {
  const keepPreviews = new Set([target.previewUrl]);
  const keepRaws = new Set(target.rawUrl ? [target.rawUrl] : []);
  // Neighbours wait for the first image: on a slow network they would share its bandwidth.
  if (!state.windowDragging && state.shown) {
    const wanted = [];
    const frames = framesOf(target.image);
    if (state.playing && frames > 1) {
      for (let k = 1; k <= Math.min(CINE_AHEAD, frames - 1); k++) wanted.push([target.index, (target.frame + k) % frames]);
    } else if (overFrames()) {
      for (const f of neighbours(target.frame, frames, state.direction)) wanted.push([target.index, f]);
    } else {
      for (const i of neighbours(target.index, state.images.length, state.direction)) wanted.push([i, 0]);
    }
    wanted.forEach(([index, frame], order) => {
      const next = targetFor(index, frame);
      if (next.custom && next.rawUsable) {
        if (order >= raws.limit - 1) return; // more would only evict each other
        keepRaws.add(next.rawUrl);
        raws.request(next.rawUrl, order, next.image);
      } else {
        keepPreviews.add(next.previewUrl);
        previews.request(next.previewUrl, order);
      }
    });
  }
  previews.prune(keepPreviews);
  raws.prune(keepRaws);
}
