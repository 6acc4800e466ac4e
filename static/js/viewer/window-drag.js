/* Windowing by dragging: sideways changes the width, up and down the centre,
 * starting from the window on screen (or the frame's min-max, windowing.js).
 * Each move makes a custom window and renders it.
 */

import { clamp, round1 } from './numbers.js';
import { render } from './render-loop.js';
import { NOW } from './resource-cache.js';
import { raws } from './resources.js';
import { currentTarget, state } from './state.js';
import { rangeWindow } from './windowing.js';

let dragWindow = null; // {x0, y0, center, width, sensitivity, provisional, moved}

function startingWindow(target) {
  if (state.custom && state.preset === 'custom') return { center: state.custom.center, width: state.custom.width, provisional: false };
  if (target.center !== null && target.width !== null) return { center: target.center, width: Math.max(target.width, 1), provisional: false };
  const raw = target.rawUrl ? raws.peek(target.rawUrl) : null;
  if (raw) return Object.assign(rangeWindow(raw), { provisional: false });
  return { center: 127.5, width: 256, provisional: true }; // replaced by the raw range if it comes in time
}

/** Start a drag at (x, y) of the stage; false when the image cannot be windowed here (colour). */
export function beginWindowDrag(x, y) {
  const target = currentTarget();
  if (!target || target.image.colour) return false;
  if (target.rawUrl) raws.request(target.rawUrl, NOW, target.image);
  const start = startingWindow(target);
  dragWindow = {
    x0: x,
    y0: y,
    center: start.center,
    width: start.width,
    sensitivity: Math.max(start.width, 1) / 200,
    provisional: start.provisional,
    moved: false,
  };
  return true;
}

/** Raw values have come (a settled load of `raws`): a provisional start becomes their range. */
export function adoptRawStart(entry) {
  if (!dragWindow || !dragWindow.provisional || dragWindow.moved) return;
  const target = currentTarget();
  if (!target || target.rawUrl !== entry.key) return;
  const start = rangeWindow(entry.value);
  dragWindow.center = start.center;
  dragWindow.width = start.width;
  dragWindow.sensitivity = Math.max(start.width, 1) / 200;
  dragWindow.provisional = false;
}

/** The pointer is at (x, y): true once the drag has moved enough to window (the gesture acted). */
export function moveWindowDrag(x, y) {
  if (!dragWindow) return false;
  const dx = x - dragWindow.x0;
  const dy = y - dragWindow.y0;
  if (!dragWindow.moved && Math.abs(dx) + Math.abs(dy) < 3) return false;
  dragWindow.moved = true;
  state.windowDragging = true;
  // Right: wider (less contrast); down: higher centre (darker).
  const width = round1(clamp(dragWindow.width + dx * dragWindow.sensitivity, 1, 999999));
  const center = round1(clamp(dragWindow.center + dy * dragWindow.sensitivity, -999999, 999999));
  if (state.preset === 'custom' && state.custom && state.custom.center === center && state.custom.width === width) return true;
  state.preset = 'custom';
  state.custom = { center, width };
  render();
  return true;
}

export function endWindowDrag() {
  const wasDragging = state.windowDragging;
  dragWindow = null;
  state.windowDragging = false;
  if (wasDragging) render(); // the server render now, not debounced, and neighbours
}
