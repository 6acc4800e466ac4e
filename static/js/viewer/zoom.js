/* Zoom and pan: by a factor about a point of the stage (pinch, ctrl + wheel),
 * about the centre (buttons, + and - keys), back to fit; and panning by drag.
 */

import { clampPan, paint, schedulePaint } from './drawing.js';
import { refreshHud } from './hud.js';
import { clamp, finite } from './numbers.js';
import { state } from './state.js';

export const ZOOM_MIN = 0.5;
export const ZOOM_MAX = 20;
export const ZOOM_STEP = 1.25;  // buttons and + / - keys

/** Zoom by a factor, keeping the point (x, y) of the stage where it is. */
export function zoomAt(factor, x, y) {
  const zoom = clamp(state.zoom * factor, ZOOM_MIN, ZOOM_MAX);
  const k = zoom / state.zoom;
  if (!finite(k) || k === 1) return;
  const cx = state.cssWidth / 2 + state.panX;
  const cy = state.cssHeight / 2 + state.panY;
  state.panX = x - (x - cx) * k - state.cssWidth / 2;
  state.panY = y - (y - cy) * k - state.cssHeight / 2;
  state.zoom = zoom;
  clampPan();
  refreshHud();
  schedulePaint();
}

export const zoomCentre = (factor) => zoomAt(factor, state.cssWidth / 2, state.cssHeight / 2);

export function fit() {
  state.zoom = 1;
  state.panX = 0;
  state.panY = 0;
  refreshHud();
  paint();
}

export function panBy(dx, dy) {
  state.panX += dx;
  state.panY += dy;
  clampPan();
  schedulePaint();
}
